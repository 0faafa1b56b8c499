package dev.cascade.router.cli;

import dev.cascade.router.config.ConfigException;
import java.util.List;
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
        SchemasCommand.class,
    })
public final class RuntimeCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    RuntimeCommand.missingCommand(spec);
  }

  public static void main(String[] args) {
    System.exit(configure(new CommandLine(new RuntimeCommand()), "java -jar cascade-runtime.jar").execute(args));
  }

  /**
   * A command line that is not understood (an unknown option, a value of the wrong type, a
   * missing required option) prints {@code error: MESSAGE} and {@code try 'LAUNCHER COMMAND --help'},
   * exit 2, not the whole usage. Configuration errors, a file that cannot be read or written and an
   * inference engine this host cannot run print one line and exit 2; a Kafka cluster that never
   * answers or whose host names never resolve, a port to listen on that is taken, a Kafka Streams
   * instance that does not get to RUNNING ({@code streams.startup-timeout-ms}), or another I/O
   * failure, one line and exit 1.
   *
   * @param launcher what runs this command line, for the hint ({@code ./cascade})
   */
  static CommandLine configure(CommandLine cli, String launcher) {
    cli.setParameterExceptionHandler((e, args) -> {
      CommandLine where = e.getCommandLine();
      java.io.PrintWriter err = where.getErr();
      if (e instanceof MissingCommandException) {
        where.usage(err);
        err.println("error: " + e.getMessage());
        err.flush();
        return where.getCommandSpec().exitCodeOnInvalidInput();
      }
      String unknown = e instanceof CommandLine.MissingParameterException ? unknownOption(where, args) : null;
      // A mistyped option leaves the one it meant missing: say the slip, the cause, first.
      err.println("error: " + (unknown != null ? unknown + "; so: " : "") + parameterMessage(e));
      String command = where.getCommandSpec().qualifiedName(" ");
      String root = cli.getCommandSpec().name();
      String sub = command.startsWith(root) ? command.substring(root.length()) : " " + command;
      err.println("try '" + launcher + sub + " --help'");
      err.flush();
      return where.getCommandSpec().exitCodeOnInvalidInput();
    });
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      if (e instanceof ConfigException || e instanceof IllegalArgumentException) {
        commandLine.getErr().println("error: " + e.getMessage());
        return 2;
      }
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof dev.cascade.models.EngineUnavailableException engine) {
          commandLine.getErr().println("error: " + engine.getMessage());
          return 2;
        }
      }
      if (e instanceof dev.cascade.router.topics.KafkaUnreachableException || e instanceof Ports.PortInUseException
          || e instanceof dev.cascade.router.StreamsStartup.NotRunningException) {
        commandLine.getErr().println("error: " + e.getMessage());
        return 1;
      }
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof org.apache.kafka.common.config.ConfigException kafka
            && String.valueOf(kafka.getMessage()).contains("No resolvable bootstrap urls")) {
          // Where no wait for the names came first (dev.cascade.router.topics.BootstrapNames), or they
          // stopped resolving since: unreachable, not misconfigured.
          commandLine.getErr().println("error: bootstrap.servers: no host name in it resolves (" + kafka.getMessage()
              + "; the client's log names them)");
          return 1;
        }
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
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof java.io.IOException io) {
          // Not about a file the command was given (the cases above): a stream, a socket, a disk.
          commandLine.getErr().println("error: " + (io.getMessage() != null ? io.getMessage() : io.toString()));
          return 1;
        }
      }
      throw e;
    });
    return cli;
  }

  /**
   * For a command that only groups others, run without one: its usage on stderr, then
   * {@code error: missing a command (one of: ...)}, exit 2, so a script that forgot the command
   * fails rather than reads the usage as output.
   */
  static void missingCommand(CommandLine.Model.CommandSpec spec) {
    throw new MissingCommandException(spec.commandLine(), "missing a command (one of: "
        + String.join(", ", spec.commandLine().getSubcommands().keySet()) + ")");
  }

  private static final class MissingCommandException extends CommandLine.ParameterException {
    private static final long serialVersionUID = 1L;

    MissingCommandException(CommandLine where, String message) {
      super(where, message);
    }
  }

  /**
   * The first of {@code args} that looks like an option {@code where} does not have (not a number),
   * as picocli words an unknown option, with its suggestions; null when there is none.
   */
  static String unknownOption(CommandLine where, String[] args) {
    java.util.Set<String> commands = new java.util.HashSet<>();
    for (CommandLine c = where; c != null; c = c.getParent()) {
      commands.add(c.getCommandName());
    }
    for (String arg : args) {
      String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
      if (!name.startsWith("-") || name.equals("-") || name.equals("--") || name.matches("-?[0-9.]+(e-?[0-9]+)?")
          || commands.contains(name) || where.getCommandSpec().findOption(name) != null) {
        continue;
      }
      return parameterMessage(new CommandLine.UnmatchedArgumentException(where, List.of(name)));
    }
    return null;
  }

  /** Picocli's message, with its suggestions for an unknown option or subcommand on the same line. */
  private static String parameterMessage(CommandLine.ParameterException e) {
    String message = String.valueOf(e.getMessage());
    if (message.startsWith("Error: ")) {
      message = message.substring("Error: ".length()); // picocli's argument groups say it; "error: " comes first
    }
    if (e instanceof CommandLine.UnmatchedArgumentException unmatched) {
      List<String> suggestions = unmatched.getSuggestions();
      if (!suggestions.isEmpty()) {
        message += "; did you mean " + String.join(" or ", suggestions.subList(0, Math.min(3, suggestions.size())))
            + "?";
      }
    }
    return message;
  }

  /**
   * A file a command was given or writes that is missing, a directory, not a directory, unreadable,
   * unwritable or not UTF-8, said in one line ("x.jsonl: no such file"); null when {@code e} is
   * about something else.
   */
  static String fileProblem(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.nio.file.FileSystemException f) {
        return fileSystemProblem(f);
      }
      if (t instanceof java.nio.charset.CharacterCodingException) {
        return (e.getMessage() != null && e != t ? e.getMessage() + ": " : "") + "not UTF-8 text";
      }
    }
    return null;
  }

  /**
   * {@code FILE: what} for an error reading {@code file}, whatever the error says of it (a plain
   * {@link java.io.IOException} such as "Is a directory" names no file; a decoding error neither).
   */
  static String readProblem(java.nio.file.Path file, java.io.IOException e) {
    if (e instanceof java.nio.file.FileSystemException f) {
      return fileSystemProblem(f);
    }
    if (e instanceof java.nio.charset.CharacterCodingException) {
      return file + ": not UTF-8 text";
    }
    if (java.nio.file.Files.isDirectory(file)) {
      return file + ": is a directory";
    }
    return file + ": " + (e.getMessage() != null ? e.getMessage() : e.toString());
  }

  /** {@code PATH: what}, for every kind of file-system error, with or without a reason. */
  static String fileSystemProblem(java.nio.file.FileSystemException f) {
    String file = f.getFile() != null ? f.getFile() : "(unnamed file)";
    if (f.getOtherFile() != null) {
      file += " -> " + f.getOtherFile();
    }
    String what;
    if (f instanceof java.nio.file.NoSuchFileException) {
      what = "no such file";
    } else if (f instanceof java.nio.file.AccessDeniedException) {
      what = "permission denied";
    } else if (f instanceof java.nio.file.FileAlreadyExistsException) {
      // What Files.createDirectories says when a part of the path is a file.
      what = f.getFile() != null && java.nio.file.Files.exists(java.nio.file.Path.of(f.getFile()))
          && !java.nio.file.Files.isDirectory(java.nio.file.Path.of(f.getFile()))
          ? "is a file, not a directory" : "already exists";
    } else if (f instanceof java.nio.file.NotDirectoryException) {
      what = "not a directory";
    } else if (f instanceof java.nio.file.DirectoryNotEmptyException) {
      what = "directory not empty";
    } else if (f.getReason() != null) {
      what = f.getReason().toLowerCase(java.util.Locale.ROOT);
    } else {
      what = "cannot be used (" + f.getClass().getSimpleName() + ")";
    }
    return file + ": " + what;
  }
}
