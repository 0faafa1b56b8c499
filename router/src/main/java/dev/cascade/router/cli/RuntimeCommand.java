package dev.cascade.router.cli;

import dev.cascade.router.config.ConfigException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The command line of the slim runtime jar ({@code cascade-runtime.jar}): the commands a
 * deployment runs, without the demo, evaluation, training, plotting and the embedded broker, whose
 * dependencies (Kafka's broker and Scala, charting, progress bars) the runtime jar leaves out. The
 * full {@code cascade.jar} ({@link CascadeCommand}, what {@code ./cascade} runs) has every command.
 */
@Command(name = "cascade", mixinStandardHelpOptions = true, version = "cascade 0.1.0 (runtime)",
    description = "A streaming online cascade router for LLM inference: the runtime commands. "
        + "The demo, eval, train-rule and broker commands are in the full cascade.jar.",
    subcommands = {
        ServeCommand.class,
        LargeModelCommand.class,
        LearnCommand.class,
        GenerateCommand.class,
        AskCommand.class,
        FeedbackCommand.class,
        PolicyCommand.class,
        RulesCommand.class,
    })
public final class RuntimeCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(configure(new CommandLine(new RuntimeCommand())).execute(args));
  }

  /**
   * Configuration errors print one line and exit 2; a Kafka cluster that never answers, or a port
   * to listen on that is taken, one line and exit 1.
   */
  static CommandLine configure(CommandLine cli) {
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      if (e instanceof ConfigException || e instanceof IllegalArgumentException) {
        commandLine.getErr().println("error: " + e.getMessage());
        return 2;
      }
      if (e instanceof dev.cascade.router.topics.KafkaUnreachableException || e instanceof Ports.PortInUseException) {
        commandLine.getErr().println("error: " + e.getMessage());
        return 1;
      }
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof org.apache.kafka.common.config.ConfigException kafka) {
          commandLine.getErr().println("error: a Kafka client setting (kafka.*) is refused by the client: "
              + kafka.getMessage());
          return 2;
        }
      }
      String file = fileProblem(e);
      if (file != null) {
        commandLine.getErr().println("error: " + file);
        return 2;
      }
      throw e;
    });
    return cli;
  }

  /**
   * A file a command was given that is missing, a directory, unreadable or not UTF-8, said in
   * one line ("x.jsonl: no such file"); null when {@code e} is about something else.
   */
  static String fileProblem(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.nio.file.NoSuchFileException f) {
        return f.getFile() + ": no such file";
      }
      if (t instanceof java.nio.file.AccessDeniedException f) {
        return f.getFile() + ": permission denied";
      }
      if (t instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
        return f.getFile() + ": " + f.getReason().toLowerCase(java.util.Locale.ROOT);
      }
      if (t instanceof java.nio.charset.CharacterCodingException) {
        return (e.getMessage() != null && e != t ? e.getMessage() + ": " : "") + "not UTF-8 text";
      }
    }
    return null;
  }
}
