package dev.cascade.router.cli;

import com.google.protobuf.ByteString;
import dev.cascade.proto.v1.GetRuleRequest;
import dev.cascade.proto.v1.ListRulesRequest;
import dev.cascade.proto.v1.ListRulesResponse;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.PublishRuleRequest;
import dev.cascade.proto.v1.Rule;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleResolver;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Lists, reads and publishes the learned rule versions of a running router (PolicyAdmin over gRPC). */
@Command(name = "rules", mixinStandardHelpOptions = true,
    description = "Lists, reads or publishes the learned deferral rule versions of a running router over gRPC"
        + " (PolicyAdmin).",
    subcommands = {RulesCommand.ListRules.class, RulesCommand.GetRule.class, RulesCommand.PublishRule.class})
final class RulesCommand implements Runnable {

  private static final long CALL_DEADLINE_SECONDS = 30;

  @Spec
  CommandSpec spec;

  @Override
  public void run() {
    RuntimeCommand.missingCommand(spec);
  }

  /** {@code NAME@VERSION}. */
  static String spec(Rule rule) {
    return rule.getName() + "@" + rule.getVersion();
  }

  /** Epoch milliseconds as an ISO-8601 instant to the second; {@code -} for 0 (not recorded). */
  static String instant(long epochMs) {
    return epochMs == 0 ? "-" : Instant.ofEpochMilli(epochMs).truncatedTo(ChronoUnit.SECONDS).toString();
  }

  /** One row per rule version, columns padded to their widest cell, then why each inapplicable one is so. */
  static void printTable(List<Rule> rules, PrintWriter out) {
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"NAME", "VERSION", "LEARNER", "MODEL SHA256", "APPLICABLE", "CREATED"});
    for (Rule r : rules) {
      rows.add(new String[] {r.getName(), Long.toString(r.getVersion()), r.getLearner(),
          ModelFingerprint.shortForm(r.getModelFingerprint()), r.getApplicable() ? "yes" : "no",
          instant(r.getCreatedAtMs())});
    }
    int[] widths = new int[rows.get(0).length];
    for (String[] row : rows) {
      for (int i = 0; i < row.length; i++) {
        widths[i] = Math.max(widths[i], row[i].length());
      }
    }
    for (String[] row : rows) {
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < row.length; i++) {
        line.append(i == row.length - 1 ? row[i] : String.format(Locale.ROOT, "%-" + widths[i] + "s  ", row[i]));
      }
      out.println(line.toString().stripTrailing());
    }
    for (Rule r : rules) {
      if (!r.getApplicable()) {
        out.println(spec(r) + " is not applicable here: " + r.getNotApplicableReason());
      }
    }
  }

  /** What a rule version is, one fact a line. */
  static void printInfo(Rule r, PrintWriter out) {
    out.println(spec(r));
    out.println("learner:         " + r.getLearner());
    out.println("model sha256:    " + (r.getModelFingerprint().isEmpty() ? "(not recorded)" : r.getModelFingerprint()));
    out.println("feature layout:  " + r.getFeatureLayout());
    out.println("applicable:      " + (r.getApplicable() ? "yes" : "no: " + r.getNotApplicableReason()));
    out.println("created:         " + instant(r.getCreatedAtMs()));
    out.println("training data:   " + r.getTrainingDataRange());
    out.println("features (" + r.getFeatureNamesCount() + "):   " + String.join(", ", r.getFeatureNamesList()));
    out.println("validation metrics:");
    Map<String, Double> metrics = new TreeMap<>(r.getValidationMetricsMap());
    int width = metrics.keySet().stream().mapToInt(String::length).max().orElse(0);
    for (Map.Entry<String, Double> m : metrics.entrySet()) {
      out.printf(Locale.ROOT, "  %-" + width + "s  %s%n", m.getKey(), number(m.getValue()));
    }
  }

  /** A count as a whole number, anything else to four decimals. */
  private static String number(double value) {
    return value == Math.rint(value) && Math.abs(value) < 1e15 ? Long.toString((long) value)
        : String.format(Locale.ROOT, "%.4f", value);
  }

  @Command(name = "list", mixinStandardHelpOptions = true,
      description = {"Lists every rule version the router knows, the shipped version 0 and those on the rules topic.",
          "Columns: name, version, learner, the small model it was made for (sha256, short), whether this router"
              + " can apply it, when it was trained."})
  static final class ListRules implements Callable<Integer> {

    @Mixin
    TargetOption target;

    @Option(names = "--json", description = "Print the ListRulesResponse as JSON instead of a table.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      return target.call(spec.commandLine().getErr(), channel -> {
        ListRulesResponse listed = PolicyAdminGrpc.newBlockingStub(channel)
            .withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS)
            .listRules(ListRulesRequest.getDefaultInstance());
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
          out.println(PolicyCommand.json(listed, true));
        } else {
          printTable(listed.getRulesList(), out);
        }
        out.flush();
        return 0;
      });
    }
  }

  @Command(name = "get", mixinStandardHelpOptions = true,
      description = {"Prints one rule version: learner, small model, feature layout, features, validation metrics.",
          "With --out, also writes its artifact (the format 'cascade train-rule --out' writes)."})
  static final class GetRule implements Callable<Integer> {

    @Mixin
    TargetOption target;

    @Parameters(index = "0", paramLabel = "NAME[@VERSION]",
        description = "The rule, e.g. posthoc-quantile (its newest version) or posthoc-quantile@3.")
    String rule;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the rule's artifact to FILE.")
    Path out;

    @Option(names = "--json", description = "Print the Rule message as JSON (without the artifact).")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      GetRuleRequest.Builder request = GetRuleRequest.newBuilder();
      java.util.Optional<RuleResolver.Versioned> at;
      try {
        at = RuleResolver.splitVersion(rule);
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "NAME[@VERSION]: " + e.getMessage());
      }
      OutputPaths.checkFile("--out", out);
      if (at.isPresent()) {
        request.setName(at.get().name()).setVersion(at.get().version());
      } else {
        request.setName(rule);
      }
      return target.call(spec.commandLine().getErr(), channel -> {
        Rule found = PolicyAdminGrpc.newBlockingStub(channel)
            .withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS)
            .getRule(request.build());
        PrintWriter stdout = spec.commandLine().getOut();
        if (json) {
          stdout.println(PolicyCommand.json(found, true, "artifact"));
        } else {
          printInfo(found, stdout);
        }
        stdout.flush();
        if (out != null) {
          PrintWriter err = spec.commandLine().getErr();
          try {
            Path parent = out.toAbsolutePath().getParent();
            if (parent != null) {
              Files.createDirectories(parent);
            }
            Files.write(out, found.getArtifact().toByteArray());
          } catch (IOException e) {
            err.println("error: cannot write " + out + ": " + e.getMessage());
            err.flush();
            return 1;
          }
          err.println("wrote " + spec(found) + " to " + out);
          err.flush();
        }
        return 0;
      });
    }
  }

  // Not mixinStandardHelpOptions: its -V/--version would take --version from the rule's version; -V alone, as
  // every other command has it.
  @Command(name = "publish",
      description = {"Publishes a rule artifact (as 'cascade train-rule --out' writes it) to the rules topic, where"
          + " every router reads it.",
          "The router refuses a rule made for another small model or feature layout (FAILED_PRECONDITION).",
          "Prints the published NAME@VERSION."})
  static final class PublishRule implements Callable<Integer> {

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "-V", versionHelp = true, description = "Print version information and exit.")
    boolean versionHelp;

    @Mixin
    TargetOption target;

    @Mixin
    AdminTokenOption token;

    @Parameters(index = "0", paramLabel = "FILE", description = "The rule artifact.")
    Path file;

    @Option(names = "--version", paramLabel = "N", defaultValue = "0",
        description = "Publish as version N, 1 or above (it must be new); 0 (the default): the newest version of the"
            + " rule plus one.")
    long version;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      token.require(spec);
      if (version < 0) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            "--version: must be 1 or more (or 0 for the next), was " + version);
      }
      byte[] artifact;
      try {
        artifact = Files.readAllBytes(file);
      } catch (IOException e) {
        throw new IllegalArgumentException(RuntimeCommand.readProblem(file, e), e);
      }
      return target.call(spec.commandLine().getErr(), channel -> {
        Rule published = token.attachTo(PolicyAdminGrpc.newBlockingStub(channel))
            .withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS)
            .publishRule(PublishRuleRequest.newBuilder().setArtifact(ByteString.copyFrom(artifact))
                .setVersion(version).build());
        spec.commandLine().getOut().println(spec(published));
        spec.commandLine().getOut().flush();
        return 0;
      });
    }
  }
}
