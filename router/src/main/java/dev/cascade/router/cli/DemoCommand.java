package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoSummary;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.escalation.LargeTarget;
import dev.cascade.router.metrics.GrpcServerMetrics;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.SmallStop;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.schemas.avro.RoutingOutcome;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The main job on the embedded default: broker, large-model server and router in this JVM, the
 * bundled test split through it over Kafka, and a summary of what the cascade did.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"Runs the whole cascade in this JVM (embedded Kafka broker, large-model gRPC server, router), "
          + "publishes the bundled test split to the requests topic, reads every response and prints a summary.",
        "Unless the file, a CASCADE_* variable or --set gives them, it runs with escalation.deadline-ms=30000 (serve's"
          + " default: 5000: here the large model shares the cores with everything else, and the split arrives at once)"
          + " and policy.rule=posthoc-quantile."})
final class DemoCommand implements Callable<Integer> {

  @Mixin
  ConfigOptions configOptions;

  @Option(names = "--requests", paramLabel = "N", description = "Send only the first N examples (default: all).")
  Integer requests;

  @Option(names = "--rate", paramLabel = "R", defaultValue = "0",
      description = {"Publish R requests a second on a fixed schedule instead of all at once (default: 0, all at once); "
          + "the latency is then service time at that load rather than time queued behind the burst."})
  double rate;

  @Option(names = "--data", paramLabel = "FILE.jsonl", description = "Send this JSONL file instead of the bundled test split.")
  Path data;

  @Option(names = "--rule", paramLabel = "RULE", description = "Starting rule: chow-sum, chow-average, chow-quantile, posthoc-quantile, posthoc-embed (default:"
      + " policy.rule where the file, a CASCADE_* variable or --set gives it, else posthoc-quantile; --rule wins over"
      + " all of them).")
  String rule;

  @Option(names = "--alpha", paramLabel = "A", description = "Alpha of chow-quantile (default: policy.alpha).")
  Double alpha;

  @Option(names = "--threshold", paramLabel = "T",
      description = "Starting threshold. Default: calibrated on the bundled validation split for --target-escalation.")
  Double threshold;

  @Option(names = "--target-escalation", paramLabel = "F", defaultValue = "0.3",
      description = "Fraction of the validation split the calibrated threshold escalates (default: ${DEFAULT-VALUE}).")
  double targetEscalation;

  @Option(names = "--tiers", paramLabel = "SMALL,...,LARGE", split = ",",
      description = {"A cascade of two or more models, smallest first: bundled names (small, medium, large) or model "
          + "directories, e.g. small,medium,large. The first runs in the router, every other one behind its own "
          + "large-model gRPC server; each middle tier passes a request on when Chow-Sum of its own answer is above a "
          + "threshold calibrated for --tier-escalation on the validation examples that reach it (those the small "
          + "model defers and every earlier middle tier passes on). Without it: the keys small.model and large.model"
          + " name the two models."})
  List<String> tiers;

  @Option(names = "--tier-escalation", paramLabel = "F", defaultValue = "0.5",
      description = "With --tiers: fraction of the validation examples reaching each middle tier that its threshold passes on"
          + " (default: ${DEFAULT-VALUE}).")
  double tierEscalation;

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--pregen-skip", paramLabel = "RULE-FILE",
      description = {"Run with the pre-generation skip: this prompt rule artifact (eval --tiers --skip-rule-out, made for"
          + " the small model) is published to the rules topic and the policy names it; requests it flags skip"
          + " small-model decoding. The summary says how many were skipped and the decoding time saved."})
  Path pregenSkip;

  @Option(names = "--pregen-skip-threshold", paramLabel = "T",
      description = "With --pregen-skip: skip when the rule's score is greater than T (default: the threshold eval"
          + " chose on validation, recorded in the artifact).")
  Double pregenSkipThreshold;

  /** Whether the skip rule needs the small model's prompt pass (false: it reads the prompt's text alone). */
  private boolean skipNeedsPass = true;

  @Option(names = "--json", description = "Print the summary as one JSON object on standard output.")
  boolean json;

  @Option(names = "--large-protocol", paramLabel = "cascade|kserve|openai|openai-chat|anthropic", defaultValue = "cascade",
      description = {"How the router reaches the demo's large-model server: cascade (cascade.v1.LargeModel over gRPC), "
          + "kserve (KServe v2 over gRPC), openai (OpenAI-compatible /v1/completions over HTTP), openai-chat (its"
          + " /v1/chat/completions) or anthropic (Anthropic's /v1/messages) (default: ${DEFAULT-VALUE})."})
  String largeProtocol;

  @Option(names = "--serve", description = {"After the summary, keep the broker, the large-model server and the router running "
          + "with the gRPC front door and the OpenAI-compatible HTTP door, and print grpc=, openai=, kafka=, admin-token= "
          + "and metrics= lines, until interrupted."})
  boolean serve;

  @Option(names = "--learn", description = {"The online learning loop instead: the router starts with Chow-Sum, no learned"
      + " rule, a target escalation rate (--target-escalation) and exploration (--exploration); `learn` runs beside it"
      + " and publishes the rules it earns; the stream (--data, or the test split words first then phrases) is sent at"
      + " --rate (default 15/s). Every answer is decoded whole (small.early-defer=false unless --set gives it), so"
      + " that every outcome is labelled. Prints a table per window of --window requests, or one JSON object with"
      + " --json."})
  boolean learn;

  @Option(names = "--phrases-first",
      description = "With --learn and the bundled test split: phrases first, then words (the shift the other way).")
  boolean phrasesFirst;

  @Option(names = "--labels", paramLabel = "reference|feedback", defaultValue = "reference",
      description = "With --learn: where the learner's labels come from: the requests' references, or (feedback)"
          + " requests without them, each answer's reference given back as feedback through the router's gRPC door"
          + " (Cascade.SubmitFeedback) for the learner to join (learn.feedback-window-ms 120000 unless set)"
          + " (default: ${DEFAULT-VALUE}).")
  String labels;

  @Option(names = "--exploration", paramLabel = "E", defaultValue = "0.05",
      description = "With --learn: fraction of accepted requests escalated anyway, above 0 and below 1"
          + " (default: ${DEFAULT-VALUE}).")
  double exploration;

  @Option(names = "--window", paramLabel = "N", defaultValue = "250",
      description = "With --learn: requests per row of the report (default: ${DEFAULT-VALUE}).")
  int window;

  @Option(names = "--plot", paramLabel = "PATH.png",
      description = "With --learn: draw the escalation rate (rolling over --window requests, or a quarter of the"
          + " requests when fewer than four windows are sent) and the threshold against requests into a PNG, after"
          + " the report.")
  Path plot;

  /**
   * The demo runs its own broker and large model (and middle tiers): a broker or target given is
   * not used, which a line on stderr says rather than the run seeming to use it.
   */
  private static void warnUnused(CascadeConfig config, boolean doors) {
    if (!doors) {
      List<String> doorKeys = new java.util.ArrayList<>();
      for (dev.cascade.router.config.ConfigKey<?> key : List.of(CascadeConfig.API_KEYS_FILE,
          CascadeConfig.GRPC_TLS_KEY_STORE, CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE, CascadeConfig.HTTP_TLS_KEY_STORE,
          CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE)) {
        if (config.given(key)) {
          doorKeys.add(key.name() + " (from " + config.sourceOf(key.name()) + ")");
        }
      }
      if (!doorKeys.isEmpty()) {
        System.err.println("warning: " + String.join(", ", doorKeys) + (doorKeys.size() == 1 ? " is" : " are")
            + " for the doors, which the demo opens only with --serve: not used");
      }
    }
    List<String> unused = new java.util.ArrayList<>();
    for (dev.cascade.router.config.ConfigKey<?> key : List.of(CascadeConfig.BOOTSTRAP_SERVERS, CascadeConfig.LARGE_TARGET,
        CascadeConfig.TIERS)) {
      if (config.given(key)) {
        unused.add(key.name() + " (from " + config.sourceOf(key.name()) + ")");
      }
    }
    if (!unused.isEmpty()) {
      System.err.println("warning: the demo runs its own broker and models (--tiers for more than two), so "
          + String.join(", ", unused) + (unused.size() == 1 ? " is" : " are") + " not used; ./cascade serve uses "
          + (unused.size() == 1 ? "it" : "them"));
    }
  }

  @Override
  public Integer call() throws Exception {
    LargeTarget.Protocol protocol = protocol(largeProtocol);
    boolean chat = largeProtocol.equals(OPENAI_CHAT);
    if (learn) {
      if (protocol != LargeTarget.Protocol.CASCADE) {
        throw usage("--large-protocol: only without --learn (the learning demo"
            + " reaches its large model over cascade:// only)");
      }
      if (tiers != null) {
        throw usage("--tiers: only without --learn (the learning demo runs the small and the"
            + " large model)");
      }
      return learnDemo();
    }
    if (tiers == null && spec != null && spec.commandLine() != null
        && spec.commandLine().getParseResult().hasMatchedOption("--tier-escalation")) {
      throw usage("--tier-escalation: only with --tiers");
    }
    if (plot != null) {
      throw usage("--plot: only with --learn");
    }
    if (!labels.equals("reference")) {
      throw usage("--labels: only with --learn");
    }
    if (spec != null && spec.commandLine() != null) {
      for (String option : List.of("--exploration", "--window", "--phrases-first")) {
        if (spec.commandLine().getParseResult().hasMatchedOption(option)) {
          throw new IllegalArgumentException(option + ": only with --learn" + (option.equals("--exploration")
              ? " (the cascade's own exploration rate is policy.exploration-rate: --set policy.exploration-rate=E)"
              : ""));
        }
      }
    }
    if (pregenSkip == null && pregenSkipThreshold != null) {
      throw usage("--pregen-skip-threshold: only with --pregen-skip");
    }
    Map<String, String> flags = new LinkedHashMap<>();
    if (rule != null) {
      flags.put(CascadeConfig.POLICY_RULE.name(), rule);
    }
    if (alpha != null) {
      flags.put(CascadeConfig.POLICY_ALPHA.name(), alpha.toString());
    }
    if (threshold != null) {
      flags.put(CascadeConfig.POLICY_THRESHOLD.name(), threshold.toString());
    }
    if (!(targetEscalation > 0 && targetEscalation < 1)) {
      throw usage("--target-escalation: must be between 0 and 1, was " + targetEscalation);
    }
    if (tiers != null) {
      checkTiers(protocol);
      flags.put(CascadeConfig.SMALL_MODEL.name(), tiers.get(0));
      flags.put(CascadeConfig.LARGE_MODEL.name(), tiers.get(tiers.size() - 1));
    }
    // The demo runs the large model on the same cores as everything else and sends the whole
    // split at once, so an escalation can wait longer for its turn than production's default allows.
    // Its default rule is the learned one shipped for the bundled small model, the best on the
    // validation split (router/EVALUATION.md); serve keeps chow-quantile, which fits any model.
    // With learn.tier-answer-value the middle tiers are retuned during the run: the demo's 3,500
    // requests are a few minutes of traffic, so the tuner looks every 5 s and decides on fewer outcomes.
    CascadeConfig config = configOptions.load(Map.of(CascadeConfig.ESCALATION_DEADLINE_MS.name(), "30000",
        CascadeConfig.POLICY_RULE.name(), "posthoc-quantile", CascadeConfig.LEARN_TIER_EVERY_MS.name(), "5000",
        CascadeConfig.LEARN_MIN_LABELS.name(), "150", CascadeConfig.LEARN_MIN_HOLDOUT.name(), "40"), flags);
    warnUnused(config, serve);
    DemoDoors.Checked doorsChecked = serve ? DemoDoors.check(config) : null;
    if (alpha != null && !config.get(CascadeConfig.POLICY_RULE).equals(dev.cascade.router.rules.ChowQuantileRule.NAME)) {
      throw usage("--alpha: the level of chow-quantile, which the rule "
          + config.get(CascadeConfig.POLICY_RULE) + " does not use; add --rule chow-quantile");
    }
    if (threshold == null && config.given(CascadeConfig.POLICY_THRESHOLD)) {
      threshold = config.get(CascadeConfig.POLICY_THRESHOLD); // as --threshold: not recalibrated
    }
    if (config.get(CascadeConfig.LEARN_TIER_ANSWER_VALUE) > 0) {
      if (tiers == null || tiers.size() < 3) {
        throw new IllegalArgumentException(CascadeConfig.LEARN_TIER_ANSWER_VALUE.name() + ": retunes middle tiers;"
            + " run the demo with one, e.g. --tiers small,medium,large");
      }
      if (config.get(CascadeConfig.POLICY_TIER_EXPLORATION_RATES).stream().noneMatch(r -> r > 0)) {
        throw new IllegalArgumentException(CascadeConfig.LEARN_TIER_ANSWER_VALUE.name() + ": a tier is retuned from"
            + " the next tier's answers where it would have served its own, which only exploration shows; add --set"
            + " policy.tier-exploration-rates=0.2 (say)");
      }
      if (config.get(CascadeConfig.ESCALATION_EARLY_DEFER) && config.get(CascadeConfig.ESCALATION_EARLY_DEFER_LABEL_SHARE) == 0) {
        throw new IllegalArgumentException(CascadeConfig.LEARN_TIER_ANSWER_VALUE.name() + ": with early deferral a"
            + " tier's passed-on answers stop early, right or wrong unknown, and the tuner skips the tier; add --set"
            + " escalation.early-defer=false, or --set escalation.early-defer-label-share=0.2 (say)");
      }
    }
    if (config.get(CascadeConfig.LEARN_SMALL_ANSWER_VALUE) > 0) {
      if (config.get(CascadeConfig.POLICY_EXPLORATION) == 0) {
        throw new IllegalArgumentException(CascadeConfig.LEARN_SMALL_ANSWER_VALUE.name() + ": the small model's"
            + " threshold is retuned from the large model's answers where it would have served its own, which only"
            + " exploration shows; add --set policy.exploration-rate=0.2 (say)");
      }
      if (config.get(CascadeConfig.EARLY_DEFER) && config.get(CascadeConfig.EARLY_DEFER_LABEL_SHARE) == 0) {
        throw new IllegalArgumentException(CascadeConfig.LEARN_SMALL_ANSWER_VALUE.name() + ": with early deferral the"
            + " small model's passed-on answers stop early, right or wrong unknown, and the tuner skips it; add --set"
            + " small.early-defer=false, or --set small.early-defer-label-share=0.2 (say)");
      }
    }
    if (tiers != null && config.get(CascadeConfig.COST_TIERS).isEmpty()) {
      MiddleTiers.relativeCosts(tiers); // before any model loads: a model without its parameters is refused at once
    }
    if (tiers != null) {
      CascadeRouter.checkTierTargetRates(config.get(CascadeConfig.POLICY_TIER_TARGET_RATES).size(), tiers.size() - 2,
          "--tiers");
      CascadeRouter.checkTierExplorationRates(config.get(CascadeConfig.POLICY_TIER_EXPLORATION_RATES).size(),
          tiers.size() - 2, "--tiers");
    }
    // A rule the router would refuse at its start, refused before any model loads or the broker starts
    // (with --tiers the middle tiers' rules come later, calibrated: their rates are checked above).
    CascadeRouter.checkConfiguredPolicy(tiers == null ? config : config.with(CascadeConfig.POLICY_TIER_TARGET_RATES, "")
        .with(CascadeConfig.POLICY_TIER_EXPLORATION_RATES, ""));
    LearnedRule skipRule = pregenSkip == null ? null : skipRule(pregenSkip, config.get(CascadeConfig.SMALL_MODEL));
    if (skipRule != null) {
      skipNeedsPass = dev.cascade.router.learning.PromptFeatures.needsPass(skipRule);
      double t = pregenSkipThreshold != null ? pregenSkipThreshold
          : dev.cascade.router.learning.PromptFeatures.recordedThreshold(skipRule).orElse(Double.NaN);
      if (!Double.isFinite(t)) {
        throw new IllegalArgumentException("--pregen-skip: " + pregenSkip + " records no threshold chosen on validation"
            + (pregenSkipThreshold != null ? "" : "; give one with --pregen-skip-threshold"));
      }
      config = config.with(CascadeConfig.POLICY_PREGEN_SKIP_RULE, skipRule.name() + "@" + skipRule.info().version())
          .with(CascadeConfig.POLICY_PREGEN_SKIP_THRESHOLD, Double.toString(t));
      System.err.printf(Locale.ROOT, "pre-generation skip: %s v%d (%s, inputs %s), threshold %.4f%n",
          skipRule.name(), skipRule.info().version(), skipRule.info().learner(), skipRule.info().featureLayout(), t);
    }
    List<Example> examples = data == null ? Examples.bundled("test") : Examples.read(data);
    examples = firstRequests(examples);
    if (examples.isEmpty()) {
      throw new IllegalArgumentException(data + ": holds no requests");
    }
    if (!(rate >= 0) || Double.isInfinite(rate)) {
      throw usage("--rate: must be 0 (all at once) or a positive number of requests a second, was "
          + rate);
    }
    String engine = config.get(CascadeConfig.ENGINE);
    int maxNew = config.get(CascadeConfig.MAX_NEW_TOKENS);

    // Both models share the cores with the broker and the router: model.threads / model.spinning.
    try (TextGenerator small = TextGenerators.load(config.get(CascadeConfig.SMALL_MODEL), engine, config.loadOptions());
        TextGenerator large = TextGenerators.load(config.get(CascadeConfig.LARGE_MODEL), engine, config.loadOptions());
        EmbeddedKafka kafka = EmbeddedKafka.start();
        MiddleTiers middle = MiddleTiers.load(tiers == null ? List.of() : tiers.subList(1, tiers.size() - 1), engine,
            config)) {
      config = config.with(CascadeConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers());
      // A prompt the router would refuse is dead-lettered, and the demo would wait for its answer:
      // refuse the file first, naming the line.
      for (Example e : examples) {
        for (TextGenerator model : List.of(small, large)) {
          java.util.Optional<String> problem = model.checkPrompt(e.prompt());
          if (problem.isPresent()) {
            throw new IllegalArgumentException((data == null ? "the bundled test split" : data.toString()) + " line "
                + e.line() + ": " + problem.get() + " (model " + model.info().name() + ")");
          }
        }
      }
      if (threshold == null) {
        List<Example> validation = Examples.bundled("validation");
        DeferralRule startRule = LearnedRules.bundled().create(config.get(CascadeConfig.POLICY_RULE),
            config.get(CascadeConfig.POLICY_ALPHA));
        // A learned rule was trained on the validation split: its threshold comes from the scores
        // its artifact carries for examples it did not train on (its cross-validation's out-of-fold
        // scores), not from re-scoring the split in-sample.
        OptionalDouble fromArtifact = startRule instanceof LearnedRule learned
            ? ThresholdCalibration.fromArtifact(learned, targetEscalation) : OptionalDouble.empty();
        double calibrated;
        String how;
        if (fromArtifact.isPresent()) {
          calibrated = fromArtifact.getAsDouble();
          how = "on its out-of-fold scores of the " + validation.size() + " validation examples it was trained on";
        } else {
          // The small model's answers on the validation split are kept between runs (the cache of
          // eval and train-rule, keyed by the model file, token limit and prompts), so only the
          // first run generates them.
          List<Generation> answers = validationAnswers(small, config, validation,
              "give the threshold with --threshold instead");
          calibrated = ThresholdCalibration.calibrate(answers, startRule, targetEscalation);
          how = "on the " + validation.size() + " validation examples";
        }
        config = config.with(CascadeConfig.POLICY_THRESHOLD, Double.toString(calibrated));
        System.err.printf(Locale.ROOT, "calibrated threshold %.4f for %s: escalates %.0f%% %s%n",
            calibrated, ruleName(config), 100 * targetEscalation, how);
      }
      // The in-process large-model server's metrics are served with the router's, on its endpoint.
      PrometheusRegistry largeMetrics = new PrometheusRegistry();
      LargeModelServer largeServer = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
              .intercept(GrpcServerMetrics.register(largeMetrics)), large,
          // As many concurrent generations (batched together by the server) as the escalator keeps
          // in flight, so an escalation waits in the router's changelogged store, where no deadline
          // runs, rather than in the server's queue, where its deadline would.
          new ServerLimits(config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT),
              config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT))).start();
      // The router reaches the server by the protocol asked for; kserve and openai cannot ask the
      // server for its token limit, so the demo, which knows the model, configures it.
      String target = switch (protocol) {
        case CASCADE -> "127.0.0.1:" + largeServer.port();
        case KSERVE -> "kserve://127.0.0.1:" + largeServer.port() + "/" + large.info().name();
        case OPENAI -> "openai://127.0.0.1:" + largeServer.serveHttp("127.0.0.1", 0).httpPort() + "/v1?model="
            + large.info().name() + (chat ? "&api=chat" : "");
        case ANTHROPIC -> "anthropic://127.0.0.1:" + largeServer.serveHttp("127.0.0.1", 0).httpPort() + "/v1?model="
            + large.info().name();
      };
      List<String> tierNames = List.of("small", dev.cascade.router.routing.RoutingRecords.LARGE);
      if (tiers != null) {
        config = middle.configure(config, "127.0.0.1:" + largeServer.port(), tierEscalation, maxNew,
            smallDefers(small, config));
        tierNames = tierNames(tiers);
        System.err.println("tiers: " + config.get(CascadeConfig.TIERS).stream().map(t -> t.name() + "=" + LargeTarget.parse(t.target()))
            .toList() + "; middle-tier rules "
            + CascadeRouter.configuredTierPolicies(config).stream().map(dev.cascade.router.policy.TierPolicy::describe).toList()
            + "; per-token costs " + config.get(CascadeConfig.COST_TIERS));
      }
      if (protocol != LargeTarget.Protocol.CASCADE && config.get(CascadeConfig.LARGE_MAX_NEW_TOKENS) == 0) {
        config = config.with(CascadeConfig.LARGE_MAX_NEW_TOKENS, Integer.toString(large.info().maxNewTokensLimit()));
      }
      System.err.println("large model: " + LargeTarget.parse(target));
      DemoWorkload.Result result;
      List<dev.cascade.router.policy.DeferralPolicy> tuned = List.of();
      try (CascadeRouter router = CascadeRouter.start(config, small, target);
          dev.cascade.router.learner.TierTuner tuner = tiers == null
              && !(config.get(CascadeConfig.LEARN_SMALL_ANSWER_VALUE) > 0) ? null
              : dev.cascade.router.learner.TierTuner.startIfAsked(config,
                  new dev.cascade.router.learner.LearnerMetrics(new PrometheusRegistry()));
          ProgressBar bar = Progress.bar("requests", examples.size(), Progress.shown(json), true)) {
        router.metrics().registry().ifPresent(r -> r.register((MultiCollector) largeMetrics::scrape));
        if (serve) {
          publishPolicy(config);
        }
        if (skipRule != null) {
          publishRule(config, router, skipRule);
        }
        result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
            config.topics().responses(), config.topics().outcomes(), "demo", examples, rate, Duration.ofSeconds(120),
            Progress.of(bar));
        if (tuner != null) {
          tuned = tuner.written();
        }
        if (serve) {
          bar.close();
          summarize(config, small, large, examples, result, maxNew, tierNames, tuned);
          DemoDoors.serveUntilInterrupted(config, kafka, largeServer, router, small, large, doorsChecked);
        }
      } finally {
        largeServer.stop();
      }
      // The router and the server are done, so the baseline's generations have the cores to
      // themselves: ONNX Runtime's own thread settings, not the shared ones.
      try (TextGenerator alone = TextGenerators.load(config.get(CascadeConfig.LARGE_MODEL), engine)) {
        return summarize(config, small, alone, examples, result, maxNew, tierNames, tuned);
      }
    }
  }

  /**
   * Writes the policy the demo's router decides by (its configured one, the threshold calibrated)
   * to the policy topic, version 0, so that {@code eval --outcomes}, {@code learn} and {@code policy}
   * pointed at the demo's broker read that policy rather than their own configured defaults.
   */
  static void publishPolicy(CascadeConfig config) {
    dev.cascade.router.policy.DeferralPolicy configured = CascadeRouter.configuredPolicy(config);
    try (dev.cascade.router.api.PolicyTopic topic = dev.cascade.router.api.PolicyTopic.start(
        CascadeRouter.clientProperties(config), config.topics().policy(), configured)) {
      topic.publish(configured.writtenAs(configured.version(), "demo", System.currentTimeMillis(),
          "the demo's configured policy"), Duration.ofSeconds(30));
    }
  }

  private void checkTiers(LargeTarget.Protocol protocol) {
    if (tiers.size() < 2) {
      throw usage("--tiers: name at least two models, smallest first, e.g. small,medium,large");
    }
    if (protocol != LargeTarget.Protocol.CASCADE || serve) {
      throw usage("--tiers: only with --large-protocol cascade and without --serve");
    }
    if (!(tierEscalation > 0 && tierEscalation < 1)) {
      throw usage("--tier-escalation: must be between 0 and 1, was " + tierEscalation);
    }
    List<String> names = tierNames(tiers);
    if (new java.util.HashSet<>(names).size() != names.size()) {
      throw usage("--tiers: the models' names must differ, were " + names);
    }
  }

  /** A name for each model: a bundled one's, or its directory's. */
  static List<String> tierNames(List<String> models) {
    return models.stream().map(m -> Path.of(m).getFileName().toString()).toList();
  }

  /**
   * Which validation examples the small model defers under the configured rule and threshold: the
   * traffic that reaches the first middle tier, on which that tier's threshold is calibrated. For a
   * learned rule these are its scores on the split it was trained on (in-sample), which only choose
   * the examples; the threshold they choose is the middle tier's, on its own scores.
   */
  private static boolean[] smallDefers(TextGenerator small, CascadeConfig config) throws java.io.IOException {
    List<Example> validation = Examples.bundled("validation");
    List<Generation> answers = validationAnswers(small, config, validation,
        "run the tiers with serve, setting tiers and policy.tier-rules yourself");
    DeferralRule rule = LearnedRules.bundled().create(config.get(CascadeConfig.POLICY_RULE),
        config.get(CascadeConfig.POLICY_ALPHA));
    double threshold = config.get(CascadeConfig.POLICY_THRESHOLD);
    double[] scores = ThresholdCalibration.scores(answers, rule);
    boolean[] defers = new boolean[scores.length];
    for (int i = 0; i < defers.length; i++) {
      defers[i] = scores[i] > threshold;
    }
    return defers;
  }

  /**
   * The small model's answers to the bundled validation split, on which the demo calibrates its
   * thresholds (cached between runs, as eval's are); a model that cannot answer one of its prompts
   * is refused naming the split, which is not the data the user gave, and what to do instead.
   */
  private static List<Generation> validationAnswers(TextGenerator small, CascadeConfig config,
      List<Example> validation, String instead) throws java.io.IOException {
    try {
      return CascadeAnswers.generateCached(small, config.get(CascadeConfig.SMALL_MODEL),
          validation.stream().map(Example::prompt).toList(),
          CascadeAnswers.Settings.configured(config),
          EvalCommand.progressBars());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("the bundled validation split, on which the demo calibrates its thresholds: "
          + e.getMessage() + "; " + instead, e);
    }
  }

  /**
   * The configuration of {@code demo --learn}: the file, variables and {@code --set}, over the demo's own defaults.
   *
   * @param feedback whether labels come as feedback ({@code --labels feedback})
   */
  CascadeConfig learnConfig(boolean feedback) {
    // The learner's defaults suit a stream of thousands of requests a minute; the demo's is
    // 3,500 requests in all, so it trains earlier and more often. Outcomes wait for their feedback
    // only when it is coming. The router starts with Chow-Sum, an exact rule, which early deferral
    // would stop early on about a fifth of the requests: their outcomes hold a prefix and no label,
    // and the learner would not see the requests it most needs, so every answer is decoded whole
    // unless the user sets small.early-defer (with small.early-defer-label-share, say).
    return configOptions.load(Map.of(CascadeConfig.ESCALATION_DEADLINE_MS.name(), "30000",
        CascadeConfig.LEARN_MIN_LABELS.name(), "600", CascadeConfig.LEARN_RETRAIN_LABELS.name(), "150",
        CascadeConfig.LEARN_HOLDOUT.name(), "0.1", CascadeConfig.LEARN_MIN_HOLDOUT.name(), "300",
        CascadeConfig.LEARN_FEEDBACK_WINDOW_MS.name(), feedback ? "120000" : "0",
        CascadeConfig.EARLY_DEFER.name(), "false"), Map.of());
  }

  /** A value this command's options do not take: said with where to get help, as picocli says its own. */
  private RuntimeException usage(String message) {
    return spec == null || spec.commandLine() == null ? new IllegalArgumentException(message)
        : new picocli.CommandLine.ParameterException(spec.commandLine(), message);
  }

  /** {@code --large-protocol openai-chat}: openai://, through the server's chat endpoint ({@code api=chat}). */
  private static final String OPENAI_CHAT = "openai-chat";

  private static LargeTarget.Protocol protocol(String name) {
    if (name.equals(OPENAI_CHAT)) {
      return LargeTarget.Protocol.OPENAI;
    }
    for (LargeTarget.Protocol p : LargeTarget.Protocol.values()) {
      if (p.scheme().equals(name)) {
        return p;
      }
    }
    throw new IllegalArgumentException("--large-protocol: one of cascade, kserve, openai, openai-chat, anthropic, was "
        + name);
  }

  /** The first {@code --requests} examples, or all of them. */
  private List<Example> firstRequests(List<Example> examples) {
    if (requests == null) {
      return examples;
    }
    if (requests < 1) {
      throw usage("--requests: must be at least 1, was " + requests);
    }
    return examples.subList(0, Math.min(requests, examples.size()));
  }

  private int learnDemo() throws Exception {
    if (serve || rule != null || threshold != null || alpha != null) {
      throw usage("--learn: starts from Chow-Sum with a target rate; --serve, --rule, --alpha and"
          + " --threshold do not apply");
    }
    if (!(targetEscalation > 0 && targetEscalation < 1)) {
      throw usage("--target-escalation: must be between 0 and 1, was " + targetEscalation);
    }
    if (!(exploration > 0 && exploration < 1)) {
      throw usage("--exploration: must be above 0 (the learner needs some) and below 1, was "
          + exploration);
    }
    if (window < 10) {
      throw usage("--window: must be at least 10, was " + window);
    }
    PlotFile.check("--plot", plot);
    // 15 a second is what this 2-core machine sustains with the large model, router and learner on
    // it: faster, escalations queue, and the newest outcomes the learner holds out lack them.
    double r = rate == 0 ? 15 : rate;
    if (!(r > 0) || Double.isInfinite(r)) {
      throw usage("--rate: must be a positive number of requests a second, was " + rate);
    }
    if (phrasesFirst && data != null) {
      throw usage("--phrases-first: orders the bundled test split; --data files are sent in file order");
    }
    if (!labels.equals("reference") && !labels.equals("feedback")) {
      throw usage("--labels: reference or feedback, not '" + labels + "'");
    }
    List<Example> examples = data == null ? LearnDemo.byKind(Examples.bundled("test"), phrasesFirst)
        : Examples.read(data);
    examples = firstRequests(examples);
    if (examples.stream().anyMatch(e -> e.reference() == null)) {
      throw new IllegalArgumentException("--learn needs a reference answer on every line of " + data);
    }
    boolean feedback = labels.equals("feedback");
    CascadeConfig config = learnConfig(feedback);
    warnUnused(config, false);
    // The demo's router starts from Chow-Sum and sets its own shadows: the fallback rule is the user's to get wrong.
    CascadeRouter.checkConfiguredPolicy(config.with(CascadeConfig.POLICY_RULE, "chow-sum")
        .with(CascadeConfig.POLICY_SHADOW_RULES, ""));
    // The report says what was sent: the kinds in order and their counts (LearnDemo.describe).
    String name = data == null ? "test split" : data.getFileName().toString();
    return LearnDemo.run(config, new LearnDemo.Settings(examples, name, r, targetEscalation, exploration, window, json,
        plot, feedback));
  }

  /** @param tuned the policies the middle tiers' tuner wrote during the run ({@code learn.tier-answer-value}) */
  private int summarize(CascadeConfig config, TextGenerator small, TextGenerator large, List<Example> examples,
      DemoWorkload.Result result, int maxNew, List<String> tierNames,
      List<dev.cascade.router.policy.DeferralPolicy> tuned) throws Exception {
    List<String> largeTexts = new ArrayList<>();
    int[] largeTokens = new int[examples.size()];
    largeOnlyBaseline(large, examples, result, maxNew, largeTexts, largeTokens, "demo-", Progress.shown(json),
        tierNames.size() - 1);
    List<String> smallTexts = smallOnlyBaseline(small, examples, result, maxNew, "demo-");
    DemoSummary summary = DemoSummary.of("demo", examples, result, smallTexts, largeTexts, largeTokens,
        CostModel.from(config),
        ruleName(config), config.get(CascadeConfig.POLICY_THRESHOLD), tierNames);
    com.fasterxml.jackson.databind.node.ObjectNode skip = config.get(CascadeConfig.POLICY_PREGEN_SKIP_RULE).isBlank()
        ? null : PregenSkipReport.measure(small, examples, result, maxNew, "demo-", skipNeedsPass);
    Map<String, dev.cascade.router.learning.TierOutcomeReport> tierReports = tierReports(config, result, tierNames);
    tierReports.values().forEach(report -> {
      report.positivityWarning().ifPresent(System.err::println);
      report.stoppedEarlyWarning().ifPresent(System.err::println);
    });
    if (json) {
      ObjectMapper mapper = new ObjectMapper();
      com.fasterxml.jackson.databind.node.ObjectNode node = mapper.valueToTree(summary);
      if (skip != null) {
        node.set("pregen_skip", skip);
      }
      if (!tierReports.isEmpty()) {
        com.fasterxml.jackson.databind.node.ObjectNode tiersNode = node.putObject("tier_outcomes");
        tierReports.forEach((tier, report) -> tiersNode.set(tier, report.toJson()));
      }
      if (config.get(CascadeConfig.LEARN_TIER_ANSWER_VALUE) > 0) {
        node.set("tier_tuning", tierTuning(mapper, config, result, tierNames, tuned));
      }
      if (config.get(CascadeConfig.LEARN_SMALL_ANSWER_VALUE) > 0) {
        node.set("small_tuning", smallTuning(mapper, config, result, tuned));
      }
      System.out.println(mapper.writeValueAsString(node));
    } else {
      System.out.println(summary.toText());
      if (skip != null) {
        System.out.println(PregenSkipReport.text(skip));
      }
      tierReports.forEach((tier, report) -> {
        System.out.println();
        System.out.println(tier + "'s rule from the outcomes, as `eval --outcomes TOPIC --tier " + report.tier()
            + "` reports it:");
        System.out.print(report.toTable());
      });
      if (config.get(CascadeConfig.LEARN_TIER_ANSWER_VALUE) > 0) {
        System.out.println();
        System.out.print(tierTuningText(tierTuning(new ObjectMapper(), config, result, tierNames, tuned)));
      }
      if (config.get(CascadeConfig.LEARN_SMALL_ANSWER_VALUE) > 0) {
        System.out.println();
        System.out.print(smallTuningText(smallTuning(new ObjectMapper(), config, result, tuned)));
      }
    }
    System.out.flush();
    return summary.responses() == summary.requests() && summary.duplicateResponses() == 0 ? 0 : 1;
  }

  /**
   * What the middle tiers' tuner did: the answer value, the policies it wrote (each middle tier's
   * threshold and target rate in them), and for each middle tier the requests reaching it under
   * each policy version ({@link dev.cascade.router.learning.TierPhases}) with their value per request.
   */
  private com.fasterxml.jackson.databind.node.ObjectNode tierTuning(ObjectMapper mapper, CascadeConfig config,
      DemoWorkload.Result result, List<String> tierNames, List<dev.cascade.router.policy.DeferralPolicy> tuned) {
    double value = config.get(CascadeConfig.LEARN_TIER_ANSWER_VALUE);
    com.fasterxml.jackson.databind.node.ObjectNode node = mapper.createObjectNode();
    node.put("answer_value", value);
    com.fasterxml.jackson.databind.node.ArrayNode policies = node.putArray("policies");
    for (dev.cascade.router.policy.DeferralPolicy p : tuned) {
      com.fasterxml.jackson.databind.node.ObjectNode one = policies.addObject();
      one.put("version", p.version());
      one.put("reason", p.reason());
      com.fasterxml.jackson.databind.node.ArrayNode rules = one.putArray("tier_rules");
      com.fasterxml.jackson.databind.node.ArrayNode thresholds = one.putArray("tier_thresholds");
      com.fasterxml.jackson.databind.node.ArrayNode targets = one.putArray("tier_target_rates");
      p.tierPolicies().forEach(t -> {
        rules.add(t.ruleName());
        thresholds.add(t.threshold());
        targets.add(t.targetEscalationRate());
      });
    }
    com.fasterxml.jackson.databind.node.ObjectNode phases = node.putObject("phases");
    for (int tier = 1; tier < tierNames.size() - 1; tier++) {
      com.fasterxml.jackson.databind.node.ArrayNode list = phases.putArray(tierNames.get(tier));
      for (dev.cascade.router.learning.TierPhases.Phase ph
          : dev.cascade.router.learning.TierPhases.of(result.outcomes().values(), tier)) {
        list.add(phase(mapper, ph, value));
      }
    }
    return node;
  }

  /**
   * What the tuner did to the small model's threshold ({@code learn.small-answer-value}): the answer
   * value, the policies written that moved it, and the requests under each policy version with their
   * value per request ({@link dev.cascade.router.learning.TierPhases#ofSmall}).
   */
  private static com.fasterxml.jackson.databind.node.ObjectNode smallTuning(ObjectMapper mapper, CascadeConfig config,
      DemoWorkload.Result result, List<dev.cascade.router.policy.DeferralPolicy> tuned) {
    double value = config.get(CascadeConfig.LEARN_SMALL_ANSWER_VALUE);
    com.fasterxml.jackson.databind.node.ObjectNode node = mapper.createObjectNode();
    node.put("answer_value", value);
    node.put("configured_threshold", config.get(CascadeConfig.POLICY_THRESHOLD));
    com.fasterxml.jackson.databind.node.ArrayNode policies = node.putArray("policies");
    double threshold = config.get(CascadeConfig.POLICY_THRESHOLD);
    double target = config.get(CascadeConfig.POLICY_TARGET_RATE);
    for (dev.cascade.router.policy.DeferralPolicy p : tuned) {
      if (p.threshold() == threshold && p.targetEscalationRate() == target) {
        continue; // a policy that moved a middle tier only
      }
      threshold = p.threshold();
      target = p.targetEscalationRate();
      com.fasterxml.jackson.databind.node.ObjectNode one = policies.addObject();
      one.put("version", p.version());
      one.put("reason", p.reason());
      one.put("threshold", p.threshold());
      one.put("target_rate", p.targetEscalationRate());
    }
    com.fasterxml.jackson.databind.node.ArrayNode phases = node.putArray("phases");
    for (dev.cascade.router.learning.TierPhases.Phase ph
        : dev.cascade.router.learning.TierPhases.ofSmall(result.outcomes().values())) {
      phases.add(phase(mapper, ph, value));
    }
    return node;
  }

  /** One policy version's requests at a tier, with their value per request for a right answer worth {@code value}. */
  private static com.fasterxml.jackson.databind.node.ObjectNode phase(ObjectMapper mapper,
      dev.cascade.router.learning.TierPhases.Phase ph, double value) {
    com.fasterxml.jackson.databind.node.ObjectNode one = mapper.createObjectNode();
    one.put("policy_version", ph.policyVersion());
    one.put("reached", ph.reached());
    one.put("passed_on", ph.passedOn());
    one.put("right", ph.right());
    one.put("cost", ph.cost());
    one.put("value_per_request", ph.utility(value));
    return one;
  }

  /** {@link #smallTuning} as lines of text. */
  static String smallTuningText(com.fasterxml.jackson.databind.JsonNode node) {
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
        "the small model's threshold retuned for %.0f cost units a right answer (learn.small-answer-value), from"
        + " %.4f: %d policies written%n", node.get("answer_value").asDouble(),
        node.get("configured_threshold").asDouble(), node.get("policies").size()));
    node.get("policies").forEach(p -> s.append("  policy v").append(p.get("version").asLong()).append(": ")
        .append(p.get("reason").asText()).append(System.lineSeparator()));
    s.append("  requests, by the policy version their small-model decision used:").append(System.lineSeparator());
    node.get("phases").forEach(ph -> s.append(phaseLine(ph)));
    return s.toString();
  }

  /** One line of a phase ({@link #phase}). */
  private static String phaseLine(com.fasterxml.jackson.databind.JsonNode ph) {
    return String.format(Locale.ROOT,
        "    v%d: %d requests, %.1f%% passed on, %.1f%% served right, cost %.1f, value %.1f per request%n",
        ph.get("policy_version").asLong(), ph.get("reached").asInt(), 100 * ph.get("passed_on").asDouble(),
        100 * ph.get("right").asDouble(), ph.get("cost").asDouble(), ph.get("value_per_request").asDouble());
  }

  /** {@link #tierTuning} as lines of text. */
  static String tierTuningText(com.fasterxml.jackson.databind.JsonNode node) {
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
        "middle tiers retuned for %.0f cost units a right answer (learn.tier-answer-value): %d policies written%n",
        node.get("answer_value").asDouble(), node.get("policies").size()));
    node.get("policies").forEach(p -> s.append("  policy v").append(p.get("version").asLong()).append(": ")
        .append(p.get("reason").asText()).append(System.lineSeparator()));
    node.get("phases").fields().forEachRemaining(e -> {
      s.append("  requests reaching ").append(e.getKey()).append(", by the policy version their tier decision used:")
          .append(System.lineSeparator());
      e.getValue().forEach(ph -> s.append(phaseLine(ph)));
    });
    return s.toString();
  }

  /**
   * With middle tiers exploring ({@code policy.tier-exploration-rates} above 0), each exploring
   * tier's rule evaluated from the run's outcomes ({@link dev.cascade.router.learning.TierOutcomeReport},
   * what {@code eval --outcomes --tier N} reads from the topic), by tier name; empty otherwise.
   */
  private Map<String, dev.cascade.router.learning.TierOutcomeReport> tierReports(CascadeConfig config,
      DemoWorkload.Result result, List<String> tierNames) {
    List<Double> rates = config.get(CascadeConfig.POLICY_TIER_EXPLORATION_RATES);
    Map<String, dev.cascade.router.learning.TierOutcomeReport> reports = new java.util.LinkedHashMap<>();
    for (int tier = 1; tier < tierNames.size() - 1 && tier <= rates.size(); tier++) {
      if (rates.get(tier - 1) <= 0) {
        continue;
      }
      dev.cascade.router.learning.TierOutcomeReport.Collector collector =
          new dev.cascade.router.learning.TierOutcomeReport.Collector(tier);
      result.outcomes().values().forEach(collector);
      if (collector.used() > 0) {
        reports.put(tierNames.get(tier), dev.cascade.router.learning.TierOutcomeReport.compute(collector,
            dev.cascade.router.evaluation.CascadeEvaluation.DEFAULT_RESAMPLES, 42));
      }
    }
    return reports;
  }

  /**
   * The last tier's answer to every example (tier {@code lastTier}, the large model): from the
   * outcome where that tier answered, else generated now. An outcome's {@code large_text} is the
   * latest tier that answered, which in a cascade of more than two is a middle tier's answer where
   * that tier served, so the last tier's own answer is looked up among the tier answers.
   */
  static void largeOnlyBaseline(TextGenerator large, List<Example> examples, DemoWorkload.Result result,
      int maxNew, List<String> texts, int[] tokens, String idPrefix, boolean showProgress, int lastTier) {
    List<Integer> missing = new ArrayList<>();
    for (int i = 0; i < examples.size(); i++) {
      RoutingOutcome o = result.outcomes().get(idPrefix + i);
      dev.cascade.schemas.avro.TierAnswer last = o == null ? null : o.getTierAnswers().stream()
          .filter(t -> t.getTier() == lastTier && !t.getStoppedEarly()).findFirst().orElse(null);
      // Over kserve:// and openai:// the large answer carries no token ids: generated again here
      // (greedy, so the same answer) for its length.
      if (last != null && !last.getTokens().isEmpty()) {
        texts.add(last.getText());
        tokens[i] = last.getTokens().size();
      } else {
        texts.add(null);
        missing.add(i);
      }
    }
    try (ProgressBar bar = Progress.bar("large-only baseline", missing.size(), showProgress, false)) {
      for (int start = 0; start < missing.size(); start += 32) {
        List<Integer> chunk = missing.subList(start, Math.min(missing.size(), start + 32));
        List<String> prompts = chunk.stream().map(i -> examples.get(i).prompt()).toList();
        List<Generation> generations = large.generate(prompts, maxNew);
        for (int j = 0; j < chunk.size(); j++) {
          texts.set(chunk.get(j), generations.get(j).text());
          tokens[chunk.get(j)] = generations.get(j).tokens().length;
        }
        bar.stepTo(start + chunk.size());
      }
    }
  }

  /**
   * The small model's whole answer to every example: from the outcome, except where early
   * deferral stopped it (the outcome holds an unfinished prefix) or the pre-generation skip left it
   * out (none), generated to its end now; null
   * where there is no outcome.
   */
  static List<String> smallOnlyBaseline(TextGenerator small, List<Example> examples, DemoWorkload.Result result,
      int maxNew, String idPrefix) {
    List<String> texts = new ArrayList<>();
    List<Integer> stopped = new ArrayList<>();
    for (int i = 0; i < examples.size(); i++) {
      RoutingOutcome o = result.outcomes().get(idPrefix + i);
      texts.add(o == null ? null : o.getSmallText());
      if (o != null && SmallStop.unfinished(o.getSmallStop())) {
        stopped.add(i);
      }
    }
    for (int start = 0; start < stopped.size(); start += 32) {
      List<Integer> chunk = stopped.subList(start, Math.min(stopped.size(), start + 32));
      List<Generation> generations = small.generate(chunk.stream().map(i -> examples.get(i).prompt()).toList(), maxNew);
      for (int j = 0; j < chunk.size(); j++) {
        texts.set(chunk.get(j), generations.get(j).text());
      }
    }
    return texts;
  }

  /**
   * The prompt rule in {@code file}, checked to be a pre-generation skip rule for {@code smallModel}.
   *
   * @throws IllegalArgumentException naming the option and what is wrong
   */
  static LearnedRule skipRule(Path file, String smallModel) throws java.io.IOException {
    if (!java.nio.file.Files.isRegularFile(file)) {
      throw new IllegalArgumentException("--pregen-skip: " + file + " is not a file (write one with eval --tiers"
          + " --skip-rule-out FILE)");
    }
    LearnedRule rule;
    try {
      rule = dev.cascade.router.learning.RuleArtifacts.read(file);
    } catch (IllegalArgumentException | java.io.IOException e) {
      throw new IllegalArgumentException("--pregen-skip: " + file + " is not a rule artifact: " + e.getMessage(), e);
    }
    String why = new dev.cascade.router.learning.RuleCatalog(
        dev.cascade.router.learning.ModelFingerprint.of(smallModel))
        .whyNotSkipRule(rule.info());
    if (!why.isEmpty()) {
      throw new IllegalArgumentException("--pregen-skip: " + file + ": " + why);
    }
    return rule;
  }

  /** Writes the skip rule to the rules topic, as {@code rules publish} would, and waits until the router holds it. */
  private static void publishRule(CascadeConfig config, CascadeRouter router, LearnedRule rule) throws Exception {
    try (org.apache.kafka.clients.producer.KafkaProducer<String, byte[]> producer =
        new org.apache.kafka.clients.producer.KafkaProducer<>(CascadeRouter.clientProperties(config),
            new org.apache.kafka.common.serialization.StringSerializer(),
            new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(config.topics().rules(),
          rule.name() + "@" + rule.info().version(), dev.cascade.router.learning.RuleArtifacts.encode(rule))).get();
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (router.rules().catalog().get(rule.name(), rule.info().version()).isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the router did not read rule " + rule.name() + "@" + rule.info().version()
            + " from " + config.topics().rules() + " within 60 s");
      }
      Thread.sleep(20);
    }
  }

  private static String ruleName(CascadeConfig config) {
    String r = config.get(CascadeConfig.POLICY_RULE);
    return r.equals("chow-quantile") ? r + "-" + config.get(CascadeConfig.POLICY_ALPHA) : r;
  }
}
