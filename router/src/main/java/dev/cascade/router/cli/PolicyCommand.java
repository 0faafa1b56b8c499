package dev.cascade.router.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.proto.v1.WatchPolicyRequest;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Reads, changes and watches the live deferral policy of a running router (PolicyAdmin over gRPC). */
@Command(name = "policy", mixinStandardHelpOptions = true,
    description = "Reads, changes or watches the live deferral policy of a running router over gRPC (PolicyAdmin).",
    subcommands = {PolicyCommand.Get.class, PolicyCommand.Set.class, PolicyCommand.Watch.class})
final class PolicyCommand implements Runnable {

  private static final long CALL_DEADLINE_SECONDS = 30;

  @Spec
  CommandSpec spec;

  @Override
  public void run() {
    RuntimeCommand.missingCommand(spec);
  }

  /**
   * A message as JSON with its proto field names, every field printed. Protobuf's printer escapes
   * characters such as {@code '} and {@code =} as {@code \u0027}, {@code \u003d} (Gson's HTML-safe
   * habit); read back and written again, they appear as themselves. The top-level fields named in
   * {@code without} are left out.
   */
  static String json(MessageOrBuilder message, boolean pretty, String... without) throws InvalidProtocolBufferException {
    String escaped = JsonFormat.printer().preservingProtoFieldNames().alwaysPrintFieldsWithNoPresence()
        .omittingInsignificantWhitespace().print(message);
    try {
      com.fasterxml.jackson.databind.JsonNode tree = READABLE.readTree(escaped);
      if (tree instanceof com.fasterxml.jackson.databind.node.ObjectNode object) {
        object.remove(java.util.List.of(without));
      }
      return pretty ? READABLE.writer(PRETTY).writeValueAsString(tree) : READABLE.writeValueAsString(tree);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("protobuf printed JSON that does not parse", e);
    }
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper READABLE = new com.fasterxml.jackson.databind.ObjectMapper();
  /** Two-space indents, {@code "key": value} and {@code ["a", "b"]}, as protobuf's own pretty printer writes. */
  private static final com.fasterxml.jackson.core.util.DefaultPrettyPrinter PRETTY;

  static {
    com.fasterxml.jackson.core.util.DefaultPrettyPrinter pretty = new com.fasterxml.jackson.core.util.DefaultPrettyPrinter()
        .withSeparators(com.fasterxml.jackson.core.util.Separators.createDefaultInstance()
            .withObjectFieldValueSpacing(com.fasterxml.jackson.core.util.Separators.Spacing.AFTER)
            .withArrayValueSpacing(com.fasterxml.jackson.core.util.Separators.Spacing.AFTER)
            .withArrayEmptySeparator(""));
    pretty.indentArraysWith(new com.fasterxml.jackson.core.util.DefaultPrettyPrinter.NopIndenter());
    PRETTY = pretty;
  }

  @Command(name = "get", mixinStandardHelpOptions = true, description = "Prints the policy in force as JSON.")
  static final class Get implements Callable<Integer> {

    @Mixin
    TargetOption target;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      return target.call(spec.commandLine().getErr(), channel -> {
        Policy policy = PolicyAdminGrpc.newBlockingStub(channel)
            .withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS)
            .getPolicy(GetPolicyRequest.getDefaultInstance());
        spec.commandLine().getOut().println(json(policy, true));
        spec.commandLine().getOut().flush();
        return 0;
      });
    }
  }

  @Command(name = "set", mixinStandardHelpOptions = true,
      description = {"Publishes a new policy version; every router instance applies it within a second.",
          "Options left out keep the values in force (--threshold, --alpha and --early-defer only when the rule stays the"
              + " same: a threshold is on its rule's own scale, so a new --rule needs a --threshold).",
          "With --tier N (a cascade of more than two models) --rule, --alpha, --threshold, --exploration-rate and"
          + " --target-escalation-rate set middle tier N's instead (tier 1 is the first model after the small one); the"
          + " rest of the policy stays, and the other options are refused with it.",
          "Prints the new policy as JSON. When the options ask for the settings already in force, writes no version, says"
              + " 'nothing to change' on stderr and prints the policy in force (exit 0); with no option at all, exit 2.",
          "A value out of range (--alpha, --exploration-rate, --target-escalation-rate or --early-defer-label-share"
              + " outside [0, 1], a negative --early-defer margin) is refused before any call, exit 2. Exit code 1 when"
              + " the router refuses the policy (the gRPC status is printed)."})
  static final class Set implements Callable<Integer> {

    @Mixin
    TargetOption target;

    @Option(names = "--rule", paramLabel = "RULE",
        description = "chow-sum, chow-average, chow-quantile (with --alpha, or as chow-quantile-0.1), or a learned rule's"
            + " name, optionally pinned to a version (posthoc-quantile@3). Left out: the rule in force.")
    String rule;

    @Option(names = "--alpha", paramLabel = "A", description = "The level of chow-quantile, in [0, 1]; 0 is the least confident token.")
    Double alpha;

    @Option(names = "--threshold", paramLabel = "T",
        description = "Defer when the rule's score is greater than T. Left out: the threshold in force, when the rule stays"
            + " the same.")
    Double threshold;

    @Option(names = "--exploration-rate", paramLabel = "E", description = "Fraction of accepted requests escalated anyway,"
        + " in [0, 1]. With --tier N: the share of the answers middle tier N's rule would serve that are passed on to"
        + " the next tier anyway (eval --outcomes --tier N evaluates the tier's rule from them).")
    Double explorationRate;

    @Option(names = "--target-escalation-rate", paramLabel = "F",
        description = "In [0, 1]: when above 0, hold this fraction of escalations on live traffic instead of a fixed"
            + " threshold (1 escalates every request); 0 goes back to the fixed threshold. With --tier N: the share of"
            + " the requests reaching middle tier N that it passes on.")
    Double targetEscalationRate;

    @Option(names = "--early-defer", paramLabel = "MARGIN|off",
        description = {"For rules whose early deferral is not exact: stop the small model once the score of the tokens"
            + " so far exceeds the threshold plus MARGIN (>= 0), and defer; off turns it off.",
            "Chow-Sum and Chow-Quantile at alpha 0 stop exactly at the threshold without it (the router's key small.early-defer)."})
    String earlyDefer;

    @Option(names = "--early-defer-label-share", paramLabel = "Q|config",
        description = {"Label sampling of early deferrals, in [0, 1]: this share of the requests that early deferral"
            + " would stop decode to their end all the same (drawn by request id), so the continuous learner gets their"
            + " whole answers; each records Q as its label propensity. config: the share the router is configured with."
            + " Left out: the share in force stays, whatever the rule."})
    String earlyDeferLabelShare;

    @Option(names = "--pregen-skip", paramLabel = "RULE[@VERSION]|off",
        description = {"The pre-generation skip: a learned prompt-only rule on the rules topic (feature layout prompt/v1"
            + " or prompt-text/v1, e.g. from eval --tiers --skip-rule-out, published with rules publish) that scores each"
            + " prompt before the small model decodes, at --pregen-skip-threshold, or else at the threshold its"
            + " artifact records (chosen on validation; the rule is then pinned to that version). off turns it off;"
            + " left out, the one in force stays."})
    String pregenSkip;

    @Option(names = "--pregen-skip-threshold", paramLabel = "T",
        description = "Skip small-model decoding (escalate at once) when the skip rule's score is greater than T.")
    Double pregenSkipThreshold;

    @Option(names = "--shadow-rules", paramLabel = "LIST|off",
        description = "Comma-separated rules scored on every request and written into the outcome, never acted on"
            + " (chow-sum,posthoc-quantile@0); off: none. Left out: the shadow rules in force.")
    String shadowRules;

    @Option(names = "--fallback-rule", paramLabel = "NAME",
        description = "The chow-* rule that decides when the policy's rule cannot (unknown, missing version, made for"
            + " another small model, failed to score). Left out: the fallback rule in force.")
    String fallbackRule;

    @Option(names = "--reason", paramLabel = "TEXT", defaultValue = "", description = "Why: kept with the policy version.")
    String reason;

    @Option(names = "--tier", paramLabel = "N", defaultValue = "0",
        description = "0 (the default): the small model's rule. N >= 1: the rule of middle tier N of a longer cascade"
            + " (chow-sum, chow-average or chow-quantile, scored on that tier's own answer).")
    int tier;

    @Mixin
    AdminTokenOption token;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      token.require(spec);
      if (tier < 0) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tier: must be 0 (the small model's"
            + " rule, the default) or a middle tier's number, 1 or above; was " + tier);
      }
      if (pregenSkipThreshold != null && pregenSkip != null && pregenSkip.equalsIgnoreCase("off")) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            "--pregen-skip-threshold: --pregen-skip off turns the pre-generation skip off; give one or the other");
      }
      if (tier > 0 && (pregenSkip != null || pregenSkipThreshold != null || earlyDefer != null
          || earlyDeferLabelShare != null
          || shadowRules != null || fallbackRule != null)) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tier " + tier + ": only --rule, --alpha,"
            + " --threshold, --exploration-rate and --target-escalation-rate apply to a middle tier; set the others"
            + " without --tier");
      }
      if (rule == null && alpha == null && threshold == null && explorationRate == null && targetEscalationRate == null
          && earlyDefer == null && earlyDeferLabelShare == null && pregenSkip == null && pregenSkipThreshold == null
          && shadowRules == null && fallbackRule == null) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "policy set: nothing to set; give at least"
            + " one of --rule, --alpha, --threshold, --exploration-rate, --target-escalation-rate" + (tier > 0
                ? " (with --tier " + tier + ")" : ", --early-defer, --early-defer-label-share, --pregen-skip,"
                    + " --pregen-skip-threshold, --shadow-rules, --fallback-rule")
            + (reason != null ? "; --reason only says why something changes, and sets nothing alone" : ""));
      }
      if (shadowRules != null && new java.util.HashSet<>(shadowRules()).size() < shadowRules().size()) {
        // Refused here, as the server refuses it, even where the policy in force already holds the same list.
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--shadow-rules: " + shadowRules
            + " names a rule twice; name each rule once");
      }
      Double margin = margin();
      Double labelShare = labelShare();
      // The router refuses these too (exit 1, after a call); a value out of range is a slip on this line.
      inUnitInterval("--alpha", alpha);
      inUnitInterval("--exploration-rate", explorationRate);
      inUnitInterval("--target-escalation-rate", targetEscalationRate);
      inUnitInterval("--early-defer-label-share", labelShare);
      if (margin != null && !(margin >= 0 && margin < Double.POSITIVE_INFINITY)) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            "--early-defer: the margin must be a number >= 0 (or off), was " + earlyDefer);
      }
      if (threshold != null && threshold.isNaN()) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--threshold: must be a number, was NaN");
      }
      return target.call(spec.commandLine().getErr(), channel -> {
        PolicyAdminGrpc.PolicyAdminBlockingStub stub = PolicyAdminGrpc.newBlockingStub(channel);
        Policy current = stub.withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS)
            .getPolicy(GetPolicyRequest.getDefaultInstance());
        Policy.Builder asked = tier == 0 ? smallModelRule(current, margin, labelShare)
            : tierRule(current);
        if (sameSettings(asked, current)) {
          // Idempotent: asking for what is in force succeeds, and writes no version.
          spec.commandLine().getErr().println("nothing to change: the policy in force (version " + current.getVersion()
              + ") already has these settings; no version written");
          spec.commandLine().getOut().println(json(current, true));
          spec.commandLine().getOut().flush();
          return 0;
        }
        for (String warning : deferAllWarnings(asked)) {
          spec.commandLine().getErr().println("warning: " + warning);
        }
        String ruleAsked = tier == 0 ? asked.getRule() : asked.getTierPolicies(tier - 1).getRule();
        if (alpha != null && !ruleAsked.startsWith(dev.cascade.router.rules.ChowQuantileRule.NAME)) {
          spec.commandLine().getErr().println("warning: --alpha " + alpha + ": rule " + ruleAsked + " does not use α"
              + " (only " + dev.cascade.router.rules.ChowQuantileRule.NAME + " does); it is written but decides nothing");
        }
        Policy updated = token.attachTo(stub)
            .withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS)
            .updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(asked).build());
        spec.commandLine().getOut().println(json(updated, true));
        spec.commandLine().getOut().flush();
        return 0;
      });
    }

    /** {@code --shadow-rules}: its comma-separated names, blanks dropped; none for {@code off}. */
    private List<String> shadowRules() {
      return shadowRules.strip().equalsIgnoreCase("off") ? List.of() : java.util.Arrays.stream(shadowRules.split(","))
          .map(String::strip).filter(r -> !r.isEmpty()).toList();
    }

    /**
     * What this command's threshold does where it sets a Chow rule below 0 ({@link
     * dev.cascade.router.policy.TierPolicy#deferAllWarning}): the rule it changes, the small model's
     * or middle tier {@link #tier}'s.
     */
    private java.util.List<String> deferAllWarnings(Policy.Builder asked) {
      if (threshold == null) {
        return java.util.List.of();
      }
      if (tier == 0) {
        return dev.cascade.router.policy.TierPolicy.deferAllWarning(asked.getRule(), asked.getThreshold(),
            "the small model").stream().toList();
      }
      dev.cascade.proto.v1.TierPolicy t = asked.getTierPolicies(tier - 1);
      return dev.cascade.router.policy.TierPolicy.deferAllWarning(t.getRule(), t.getThreshold(), "middle tier " + tier)
          .stream().toList();
    }

    /** Whether {@code asked} would change nothing but the reason, the version, who and when. */
    static boolean sameSettings(Policy.Builder asked, Policy current) {
      Policy.Builder normal = asked.clone();
      try {
        dev.cascade.router.learning.RuleResolver.splitVersion(normal.getRule()).ifPresent(v -> {
          if (!normal.hasRuleVersion() || normal.getRuleVersion() == v.version()) {
            normal.setRule(v.name()).setRuleVersion(v.version());
          }
        });
      } catch (IllegalArgumentException e) {
        return false; // the router says what is wrong with it
      }
      return normal.clearReason().clearVersion().clearUpdatedBy().clearUpdatedAtMs().build()
          .equals(current.toBuilder().clearReason().clearVersion().clearUpdatedBy().clearUpdatedAtMs().build());
    }

    /** The policy in force with middle tier {@link #tier}'s rule replaced; a usage error when there is no such tier. */
    private Policy.Builder tierRule(Policy current) {
      if (tier > current.getTierPoliciesCount()) {
        int middle = current.getTierPoliciesCount();
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tier " + tier + ": " + (middle == 0
            ? "the policy in force has no middle tiers (a cascade of two models); --tier 0 is the small model"
            : "the policy in force has rules for " + middle + " middle tier" + (middle == 1 ? "" : "s") + " (--tier 1"
                + (middle == 1 ? "" : " to " + middle) + "; 0 is the small model)")
            + "; the router's tiers and policy.tier-rules say how many there are");
      }
      dev.cascade.proto.v1.TierPolicy old = current.getTierPolicies(tier - 1);
      String newRule = rule != null ? rule : old.getRule();
      double newThreshold = threshold(old.getRule(), newRule, old.getThreshold(), "middle tier " + tier);
      dev.cascade.proto.v1.TierPolicy next = dev.cascade.proto.v1.TierPolicy.newBuilder()
          .setRule(newRule).setAlpha(alpha != null ? alpha : newRule.equals(old.getRule()) ? old.getAlpha() : 0.0)
          .setThreshold(newThreshold)
          .setTargetEscalationRate(targetEscalationRate != null ? targetEscalationRate : old.getTargetEscalationRate())
          .setExplorationRate(explorationRate != null ? explorationRate : old.getExplorationRate())
          .build();
      return current.toBuilder().setTierPolicies(tier - 1, next).setReason(reason)
          .clearVersion().clearUpdatedBy().clearUpdatedAtMs();
    }

    private Policy.Builder smallModelRule(Policy current, Double margin, Double labelShare) {
      String newRule = rule != null ? rule : current.getRule();
      double newThreshold = threshold(current.getRule(), newRule, current.getThreshold(), "the small model");
      if (pregenSkipThreshold != null && pregenSkip == null && !current.hasPregenSkipRule()) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--pregen-skip-threshold: no pre-generation skip is in force; name its rule"
            + " with --pregen-skip RULE[@VERSION]");
      }
      Policy.Builder asked = Policy.newBuilder()
            .setRule(newRule)
            .setAlpha(alpha != null ? alpha : newRule.equals(current.getRule()) ? current.getAlpha() : 0.0)
            .setThreshold(newThreshold)
            .setExplorationRate(explorationRate != null ? explorationRate : current.getExplorationRate())
            .setTargetEscalationRate(targetEscalationRate != null ? targetEscalationRate
                : current.getTargetEscalationRate())
            .setReason(reason)
            .addAllShadowRules(shadowRules == null ? current.getShadowRulesList() : shadowRules())
            .setFallbackRule(fallbackRule != null ? fallbackRule.strip() : current.getFallbackRule())
            .addAllTierPolicies(current.getTierPoliciesList());
      if (rule == null && current.hasRuleVersion()) {
        asked.setRuleVersion(current.getRuleVersion()); // the rule in force stays pinned
      }
      if (earlyDefer == null) {
        if (current.hasEarlyDeferMargin() && newRule.equals(current.getRule())) {
          asked.setEarlyDeferMargin(current.getEarlyDeferMargin());
        }
      } else if (margin != null) {
        asked.setEarlyDeferMargin(margin);
      }
      if (earlyDeferLabelShare == null) {
        if (current.hasEarlyDeferLabelShare()) {
          asked.setEarlyDeferLabelShare(current.getEarlyDeferLabelShare());
        }
      } else if (labelShare != null) {
        asked.setEarlyDeferLabelShare(labelShare);
      }
      if (pregenSkip == null) {
        if (current.hasPregenSkipRule()) {
          asked.setPregenSkipRule(current.getPregenSkipRule());
        }
        if (pregenSkipThreshold != null) {
          asked.setPregenSkipThreshold(pregenSkipThreshold);
        } else if (current.hasPregenSkipThreshold()) {
          asked.setPregenSkipThreshold(current.getPregenSkipThreshold());
        }
      } else if (!pregenSkip.equalsIgnoreCase("off")) {
        // The server refuses a rule it cannot apply, naming the field. Without a threshold, the one
        // in force stays for the same rule; a new rule gets the threshold its artifact records.
        asked.setPregenSkipRule(pregenSkip);
        if (pregenSkipThreshold != null) {
          asked.setPregenSkipThreshold(pregenSkipThreshold);
        } else if (current.hasPregenSkipThreshold() && pregenSkip.equals(current.getPregenSkipRule())) {
          asked.setPregenSkipThreshold(current.getPregenSkipThreshold());
        }
      }
      return asked;
    }

    /**
     * The threshold to publish: {@code --threshold} when given, else the one in force when the rule
     * stays the same; a usage error when a new rule comes without one, since a threshold is on its
     * rule's own scale.
     */
    private double threshold(String ruleInForce, String newRule, double inForce, String whose) {
      if (threshold != null) {
        return threshold;
      }
      if (newRule.equals(ruleInForce)) {
        return inForce;
      }
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--threshold: needed with a new rule (" + whose + "'s rule in force is '"
          + ruleInForce + "', --rule asks for '" + newRule + "'): a threshold is on its rule's own scale, so the one in"
          + " force (" + inForce + ") would not mean the same");
    }

    /**
     * The share {@code --early-defer-label-share} asks for; null for config or not given (checked
     * in [0, 1] before the call, as the server checks it).
     */
    private Double labelShare() {
      return numberOr("--early-defer-label-share", earlyDeferLabelShare, "config");
    }

    /**
     * The margin {@code --early-defer} asks for; null for off or not given (checked before the call,
     * as the server checks it).
     */
    private Double margin() {
      return numberOr("--early-defer", earlyDefer, "off");
    }

    /** A usage error naming {@code option} when {@code value} is given and not in [0, 1]. */
    private void inUnitInterval(String option, Double value) {
      if (value != null && !(value >= 0 && value <= 1)) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            option + ": must be in [0, 1], was " + value);
      }
    }

    /** {@code value} as a number; null when not given or equal to {@code word}; a usage error naming {@code option} else. */
    private Double numberOr(String option, String value, String word) {
      if (value == null || value.strip().equalsIgnoreCase(word)) {
        return null;
      }
      try {
        return Double.parseDouble(value.strip());
      } catch (NumberFormatException e) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            option + ": '" + value + "' is neither a number nor " + word);
      }
    }
  }

  @Command(name = "watch", mixinStandardHelpOptions = true,
      description = "Prints the policy in force, then every change, one JSON object a line, until interrupted.")
  static final class Watch implements Callable<Integer> {

    @Mixin
    TargetOption target;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      return target.call(spec.commandLine().getErr(), channel -> {
        Iterator<Policy> changes = PolicyAdminGrpc.newBlockingStub(channel)
            .watchPolicy(WatchPolicyRequest.newBuilder().setIncludeCurrent(true).build());
        while (changes.hasNext()) {
          spec.commandLine().getOut().println(json(changes.next(), false));
          spec.commandLine().getOut().flush();
        }
        return 0;
      });
    }
  }
}
