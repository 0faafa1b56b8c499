package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every command and subcommand answers --help, and the command list shows whole sentences. */
class HelpTest {

  /** Every command under the top one, as the words that reach it ("rules publish"). */
  private static List<List<String>> commands(CommandLine cli, List<String> path) {
    List<List<String>> out = new ArrayList<>();
    cli.getSubcommands().forEach((name, sub) -> {
      List<String> words = new ArrayList<>(path);
      words.add(name);
      out.add(words);
      out.addAll(commands(sub, words));
    });
    return out;
  }

  /** What {@code cascade WORDS --help} prints. */
  private static String help(List<String> words) {
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(new StringWriter(), true));
    List<String> args = new ArrayList<>(words);
    args.add("--help");
    cli.execute(args.toArray(String[]::new));
    return out.toString();
  }

  @Test
  void everyCommandAnswersHelpWithItsUsage() {
    List<List<String>> all = commands(CascadeCommand.commandLine(), List.of());
    assertThat(all).hasSizeGreaterThan(10);
    for (List<String> words : all) {
      CommandLine cli = CascadeCommand.commandLine();
      StringWriter out = new StringWriter();
      StringWriter err = new StringWriter();
      cli.setOut(new PrintWriter(out, true));
      cli.setErr(new PrintWriter(err, true));
      List<String> args = new ArrayList<>(words);
      args.add("--help");
      assertThat(cli.execute(args.toArray(String[]::new))).as(String.join(" ", args) + ": " + err).isZero();
      assertThat(out.toString()).as(String.join(" ", args)).startsWith("Usage: cascade " + String.join(" ", words));
    }
  }

  @Test
  void everyCommandListsDashVAndItPrintsTheVersion() {
    for (List<String> words : commands(CascadeCommand.commandLine(), List.of())) {
      assertThat(help(words)).as(String.join(" ", words) + " --help").contains("  -V");

      CommandLine again = CascadeCommand.commandLine();
      StringWriter version = new StringWriter();
      again.setOut(new PrintWriter(version, true));
      List<String> dashV = new ArrayList<>(words);
      dashV.add("-V");
      assertThat(again.execute(dashV.toArray(String[]::new))).as(String.join(" ", dashV)).isZero();
      assertThat(version.toString().strip()).as(String.join(" ", dashV)).isEqualTo("cascade 0.1.0");
    }
  }

  @Test
  void noConfigurationKeyIsWrappedAtOneOfItsDots() {
    // picocli may break a line after a dot: "small." at a line's end and "model" on the next one.
    for (List<String> words : commands(CascadeCommand.commandLine(), List.of())) {
      List<String> args = new ArrayList<>(words);
      args.add("--help");
      String help = help(words).replaceAll("\\.\\R\\s+", ".\n");
      for (dev.cascade.router.config.ConfigKey<?> key : dev.cascade.router.config.CascadeConfig.KEYS) {
        for (int dot = key.name().indexOf('.'); dot > 0; dot = key.name().indexOf('.', dot + 1)) {
          assertThat(help).as(String.join(" ", args))
              .doesNotContain(key.name().substring(0, dot + 1) + "\n" + key.name().substring(dot + 1));
        }
      }
    }
  }

  @Test
  void theFirstLineOfEveryDescriptionIsAWholeSentence() {
    // A parent's command list shows only the first line of each description.
    for (List<String> words : commands(CascadeCommand.commandLine(), List.of())) {
      CommandLine cli = CascadeCommand.commandLine();
      for (String w : words) {
        cli = cli.getSubcommands().get(w);
      }
      String[] description = cli.getCommandSpec().usageMessage().description();
      assertThat(description).as(String.join(" ", words)).isNotEmpty();
      assertThat(description[0].strip()).as(String.join(" ", words)).endsWith(".");
    }
  }
}
