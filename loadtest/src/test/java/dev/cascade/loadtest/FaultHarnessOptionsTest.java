package dev.cascade.loadtest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.cli.ClassDataArchive;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fault harness's JVM options: the launcher's class-data-sharing archive, and --jvm-opt. */
class FaultHarnessOptionsTest {

  @TempDir
  Path dir;

  @Test
  void learnSetsStartALearnerWhoseKillsArePlannedAmongTheFaults() {
    FaultHarness.Options o = FaultHarness.Options.parse(new String[] {"--router-kills", "1", "--broker-restarts",
        "false", "--large-outage", "false", "--large-slow", "false", "--large-flap", "false", "--learn-set",
        "learn.tier-answer-value=3000", "--learn-set", "learn.tier-every-ms=20000", "--learner-kills", "2"});
    assertThat(o.learnSettings()).containsEntry("learn.tier-answer-value", "3000")
        .containsEntry("learn.tier-every-ms", "20000");
    assertThat(o.routerSettings()).isEmpty();
    assertThat(FaultHarness.plan(o, 600_000)).extracting(s -> s.name())
        .containsExactly("router_kill_1", "learner_kill_1", "learner_kill_2");
    assertThatThrownBy(() -> FaultHarness.Options.parse(new String[] {"--learner-kills", "1"}))
        .hasMessageContaining("--learner-kills").hasMessageContaining("--learn-set");
  }

  @Test
  void jvmOptsRepeatAndTheArchiveDefaultsToAuto() {
    FaultHarness.Options o = FaultHarness.Options.parse(new String[] {"--requests", "10", "--jvm-opt",
        "-XX:TieredStopAtLevel=1", "--jvm-opt", "-Xss1m", "--set", "a=b"});
    assertThat(o.jvmOptions()).containsExactly("-XX:TieredStopAtLevel=1", "-Xss1m");
    assertThat(o.cds()).isEqualTo("auto");
    assertThat(o.routerSettings()).containsEntry("a", "b");
    assertThat(FaultHarness.Options.parse(new String[] {"--cds", "off"}).cds()).isEqualTo("off");
  }

  @Test
  void autoUsesTheArchiveMadeForTheJarFirstOnTheClassPathAndOnlyThat() throws Exception {
    Path jar = Files.writeString(dir.resolve("cascade.jar"), "a jar");
    String classPath = jar + File.pathSeparator + dir.resolve("classes");
    FaultHarness.Options auto = FaultHarness.Options.parse(new String[] {"--jvm-opt", "-Xss1m"});

    assertThat(FaultHarness.jvmOptions(auto, classPath)).containsExactly("-Xss1m");

    Path archive = Files.writeString(ClassDataArchive.forJar(jar), "an archive");
    assertThat(FaultHarness.jvmOptions(auto, classPath))
        .containsExactly("-XX:SharedArchiveFile=" + archive, "-Xlog:cds=off", "-Xlog:cds+dynamic=off", "-Xss1m");
    // Not the first entry: the JVM could not use it (its classpath must start as the archive's did).
    assertThat(FaultHarness.jvmOptions(auto, dir.resolve("classes") + File.pathSeparator + jar)).containsExactly("-Xss1m");
    // A rebuilt jar (another size) has another archive name: the old one is not used.
    Files.writeString(jar, "a rebuilt jar");
    assertThat(FaultHarness.jvmOptions(auto, classPath)).containsExactly("-Xss1m");

    FaultHarness.Options off = FaultHarness.Options.parse(new String[] {"--cds", "off"});
    assertThat(FaultHarness.jvmOptions(off, classPath)).isEmpty();
    FaultHarness.Options file = FaultHarness.Options.parse(new String[] {"--cds", archive.toString()});
    assertThat(FaultHarness.jvmOptions(file, classPath)).startsWith("-XX:SharedArchiveFile=" + archive);
    FaultHarness.Options missing = FaultHarness.Options.parse(new String[] {"--cds", dir.resolve("none.jsa").toString()});
    assertThatThrownBy(() -> FaultHarness.jvmOptions(missing, classPath)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--cds");
  }

  @Test
  void theProcessesGetTheOptionsAfterTheHarnessHeapAndBeforeTheCommand() throws Exception {
    List<String> command = FaultHarness.Proc.command(List.of("-XX:SharedArchiveFile=a.jsa", "-Xmx2g"),
        List.of("broker", "--port", "1"));
    int heap = command.indexOf("-Xmx1g");
    int archive = command.indexOf("-XX:SharedArchiveFile=a.jsa");
    int user = command.indexOf("-Xmx2g");
    int main = command.indexOf("dev.cascade.router.cli.CascadeCommand");
    assertThat(heap).isPositive().isLessThan(archive);
    assertThat(archive).isLessThan(user);
    assertThat(user).isLessThan(main);
    assertThat(command.subList(main + 1, command.size())).containsExactly("broker", "--port", "1");
  }
}
