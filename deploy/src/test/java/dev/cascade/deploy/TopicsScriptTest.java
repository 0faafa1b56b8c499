package dev.cascade.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.TopicNames;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code topics.sh} is what a user runs against a Kafka cluster not run by Strimzi: it must create
 * every topic the router reads and writes, shaped as the router's provisioner makes them, and reach
 * a secured cluster. Run with a stand-in for {@code kafka-topics.sh} that records its arguments.
 */
class TopicsScriptTest {

  @TempDir
  Path tmp;

  @Test
  void itCreatesEveryTopicTheRouterUsesWithTheGivenShapeAndClientConfiguration() throws Exception {
    Path calls = tmp.resolve("calls");
    Path fake = tmp.resolve("kafka-topics.sh");
    Files.writeString(fake, "#!/usr/bin/env bash\necho \"$*\" >> '" + calls + "'\n");
    Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwx------"));
    Path client = tmp.resolve("client.properties");
    ProcessBuilder pb = new ProcessBuilder("bash", "topics.sh", "kafka-0:9093", "12", "2").redirectErrorStream(true);
    pb.environment().put("KAFKA_TOPICS", fake.toString());
    pb.environment().put("KAFKA_COMMAND_CONFIG", client.toString());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();

    Map<String, List<String>> created = Files.readAllLines(calls).stream().map(l -> Arrays.asList(l.split(" ")))
        .collect(Collectors.toMap(a -> after(a, "--topic"), a -> a));
    TopicNames names = CascadeConfig.load(null, Map.of(), Map.of()).topics();
    assertThat(created.keySet()).containsExactlyInAnyOrderElementsOf(names.all());
    for (String name : names.all()) {
      List<String> args = created.get(name);
      boolean compacted = name.equals(names.policy()) || name.equals(names.rules());
      assertThat(after(args, "--bootstrap-server")).isEqualTo("kafka-0:9093");
      assertThat(after(args, "--command-config")).as(name).isEqualTo(client.toString());
      assertThat(after(args, "--partitions")).as(name).isEqualTo(compacted ? "1" : "12");
      assertThat(after(args, "--replication-factor")).as(name).isEqualTo("2");
      assertThat(args.contains("cleanup.policy=compact")).as(name).isEqualTo(compacted);
    }
  }

  private static String after(List<String> args, String flag) {
    int i = args.indexOf(flag);
    assertThat(i).as(flag + " in " + args).isNotNegative();
    return args.get(i + 1);
  }
}
