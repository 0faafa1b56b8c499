package dev.cascade.router.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code cascade} command line: one subcommand per thing the router can do. */
@Command(name = "cascade", mixinStandardHelpOptions = true, version = "cascade 0.1.0",
    description = "A streaming online cascade router for LLM inference.",
    subcommands = {
        BrokerCommand.class,
        DemoCommand.class,
        ServeCommand.class,
        GenerateCommand.class,
        LargeModelCommand.class,
        TrainRuleCommand.class,
        LearnCommand.class,
        EvalCommand.class,
        AskCommand.class,
        FeedbackCommand.class,
        PolicyCommand.class,
        RulesCommand.class,
        DeadLettersCommand.class,
        SchemasCommand.class,
        BenchCommand.class,
        CdsCommand.class,
        CdsWorkloadCommand.class,
    })
public final class CascadeCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    RuntimeCommand.missingCommand(spec);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /**
   * The configured picocli command line; a command line not understood and configuration errors
   * print one line (and where to get help) and exit 2 ({@link RuntimeCommand#configure}). Every
   * subcommand's {@code -V} prints this command's version (picocli does not hand it down).
   */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new CascadeCommand());
    sameVersion(cli, cli.getCommandSpec().version());
    return RuntimeCommand.configure(cli, "./cascade");
  }

  private static void sameVersion(CommandLine cli, String[] version) {
    cli.getSubcommands().values().forEach(sub -> {
      if (sub.getCommandSpec().version().length == 0) {
        sub.getCommandSpec().version(version);
      }
      sameVersion(sub, version);
    });
  }
}
