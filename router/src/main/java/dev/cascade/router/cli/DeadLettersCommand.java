package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.TopicSnapshot;
import dev.cascade.schemas.avro.DeadLetter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Reads the dead-letter topic: what the router and the learner refused, and why. */
@Command(name = "dead-letters", mixinStandardHelpOptions = true,
    description = {"Prints the newest records of the dead-letter topic (topic.dead-letters, read_committed): for"
        + " each, when it failed, the stage that refused it, the record's key, the reason and the topic, partition"
        + " and offset of the record refused, oldest first. With --json, one JSON object per line.",
        "Exit code 2 when the topic does not exist or no broker is given, 1 when no broker answers."})
final class DeadLettersCommand implements Callable<Integer> {

  private static final ObjectMapper MAPPER = new ObjectMapper();

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka brokers (default: the bootstrap.servers configuration key).")
  String bootstrapServers;

  @Option(names = "--last", paramLabel = "N", defaultValue = "20",
      description = "How many of the newest dead letters to print (default: ${DEFAULT-VALUE}).")
  int last;

  @Option(names = "--json", description = "One JSON object per dead letter instead of a line of text.")
  boolean json;

  @Mixin
  ConfigOptions configOptions;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    if (last < 1) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--last: must be at least 1, was " + last);
    }
    CascadeConfig config = configOptions.load();
    Map<String, Object> client = TopicSnapshot.clientProperties(bootstrapServers, config, "dead-letters");
    String topic = config.get(CascadeConfig.TOPIC_DEAD_LETTERS);
    // The whole topic, keeping the newest --last (transaction markers take offsets, so the newest
    // offsets are not the newest records).
    java.util.PriorityQueue<DeadLetter> newest = new java.util.PriorityQueue<>(
        Comparator.comparingLong(DeadLetter::getFailedAtMs));
    TopicSnapshot.Read result = TopicSnapshot.readDeadLetters(client, topic, (key, letter) -> {
      newest.add(letter);
      if (newest.size() > last) {
        newest.poll();
      }
    }, Long.MAX_VALUE);
    List<DeadLetter> shown = new ArrayList<>(newest);
    shown.sort(Comparator.comparingLong(DeadLetter::getFailedAtMs));
    PrintWriter out = spec.commandLine().getOut();
    for (DeadLetter d : shown) {
      String key = d.getKey() == null ? null : StandardCharsets.UTF_8.decode(d.getKey().duplicate()).toString();
      if (json) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("failed_at", Instant.ofEpochMilli(d.getFailedAtMs()).toString());
        node.put("stage", d.getStage().toString());
        node.put("key", key);
        node.put("reason", d.getReason().toString());
        node.put("error_class", d.getErrorClass().toString());
        node.put("topic", d.getTopic().toString());
        node.put("partition", d.getPartition());
        node.put("offset", d.getOffset());
        out.println(node);
      } else {
        out.printf(java.util.Locale.ROOT, "%s %s key=%s %s (%s %d@%d)%n", Instant.ofEpochMilli(d.getFailedAtMs()),
            d.getStage(), key == null ? "none" : "'" + key + "'", d.getReason(), d.getTopic(), d.getPartition(),
            d.getOffset());
      }
    }
    out.flush();
    spec.commandLine().getErr().println("dead-letters: " + shown.size() + " shown of " + result.records()
        + " read (" + result.range() + ")" + (result.undecodable() == 0 ? ""
            : "; " + result.undecodable() + " not decodable as dead letters"));
    return 0;
  }
}
