package dev.cascade.router.cli;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.policy.ThresholdCalibrator;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRules;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The demo's middle tiers ({@code demo --tiers small,medium,large}): the models between the small
 * and the large one, each behind its own large-model gRPC server on loopback, with a Chow-Sum
 * threshold calibrated on the validation examples that reach it.
 */
final class MiddleTiers implements AutoCloseable {

  private final List<String> models;
  private final List<TextGenerator> generators;
  private final List<LargeModelServer> servers = new ArrayList<>();

  private MiddleTiers(List<String> models, List<TextGenerator> generators) {
    this.models = models;
    this.generators = generators;
  }

  /** Loads the middle models (none for a cascade of two). */
  static MiddleTiers load(List<String> models, String engine, CascadeConfig config) {
    List<TextGenerator> loaded = new ArrayList<>();
    try {
      for (String model : models) {
        loaded.add(TextGenerators.load(model, engine, config.loadOptions()));
      }
    } catch (RuntimeException e) {
      loaded.forEach(TextGenerator::close);
      throw e;
    }
    return new MiddleTiers(List.copyOf(models), loaded);
  }

  /**
   * Starts a server per middle model and returns {@code config} with the cascade in it: {@code
   * tiers} (the middle models, then the large one at {@code largeAddress}), {@code
   * policy.tier-rules} (Chow-Sum, each threshold passing on {@code tierEscalation} of the validation
   * examples that reach that tier: those the small model defers ({@code smallDefers}) and every
   * earlier middle tier passes on) and, unless set, {@code cost.tiers.per-token} and {@code
   * cost.large.per-token} in proportion to the models' parameters ({@code cost.small.per-token} for
   * the small one).
   */
  CascadeConfig configure(CascadeConfig config, String largeAddress,
      double tierEscalation, int maxNew, boolean[] smallDefers) throws IOException {
    List<Example> validation = Examples.bundled("validation");
    List<String> prompts = validation.stream().map(Example::prompt).toList();
    if (smallDefers.length != prompts.size()) {
      throw new IllegalArgumentException("smallDefers: " + smallDefers.length + " flags for " + prompts.size()
          + " validation examples");
    }
    boolean[] reaches = smallDefers.clone();
    List<String> names = DemoCommand.tierNames(models);
    List<String> targets = new ArrayList<>();
    List<TierPolicy> rules = new ArrayList<>();
    int inFlight = config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT);
    for (int i = 0; i < generators.size(); i++) {
      TextGenerator model = generators.get(i);
      // Kept between runs in the cache eval and train-rule use, so only the first run generates them.
      List<Generation> answers = CascadeAnswers.generateCached(model, models.get(i), prompts,
          new CascadeAnswers.Settings(models.get(i), models.get(i), config.get(CascadeConfig.ENGINE), maxNew, 64,
              CascadeAnswers.userCacheDir()), EvalCommand.progressBars());
      // Calibrated on the traffic this tier will see: a middle model's answers are easier on the
      // whole split than on what the small model could not answer, so a threshold set on the whole
      // split passes on far more than tierEscalation of its real traffic.
      double[] scores = ThresholdCalibration.scores(answers, DeferralRules.of(ChowSumRule.NAME, 0.0));
      int reaching = count(reaches);
      double threshold = passOn(scores, reaches, tierEscalation, names.get(i));
      System.err.printf(Locale.ROOT, "tier %s: Chow-Sum threshold %.4f passes on %.0f%% of the %d validation examples"
          + " that reach it%n", names.get(i), threshold, 100 * tierEscalation, reaching);
      rules.add(new TierPolicy(ChowSumRule.NAME, 0.0, threshold));
      LargeModelServer server = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), model,
          new ServerLimits(inFlight, inFlight)).start();
      servers.add(server);
      targets.add(names.get(i) + "=127.0.0.1:" + server.port());
    }
    String largeModel = config.get(CascadeConfig.LARGE_MODEL);
    targets.add(DemoCommand.tierNames(List.of(largeModel)).get(0) + "=" + largeAddress);
    CascadeConfig out = config.with(CascadeConfig.TIERS, String.join(",", targets))
        .with(CascadeConfig.POLICY_TIER_RULES, rules.stream().map(TierPolicy::spec).collect(Collectors.joining(",")));
    if (config.get(CascadeConfig.COST_TIERS).isEmpty()) {
      // The cost eval --tiers assumes: each model's parameters over the small one's.
      List<String> all = new ArrayList<>();
      all.add(config.get(CascadeConfig.SMALL_MODEL));
      all.addAll(models);
      all.add(largeModel);
      double[] relative = relativeCosts(all);
      List<String> costs = new ArrayList<>();
      for (int k = 1; k < relative.length; k++) {
        costs.add(String.format(Locale.ROOT, "%.3f", config.get(CascadeConfig.COST_SMALL) * relative[k]));
      }
      out = out.with(CascadeConfig.COST_TIERS, String.join(",", costs))
          .with(CascadeConfig.COST_LARGE, costs.get(costs.size() - 1));
    }
    return out;
  }

  /**
   * Each model's per-token cost relative to the first's, from their cards' parameters.
   *
   * @throws IllegalArgumentException naming the model without them, and how to give the costs instead
   */
  static double[] relativeCosts(List<String> models) {
    try {
      return dev.cascade.router.routing.CostModel.relativeToFirst(models);
    } catch (dev.cascade.models.ModelNotFoundException e) {
      throw new IllegalArgumentException("--tiers: " + e.getMessage(), e); // no such model: costs would not help
    } catch (IllegalArgumentException e) {
      // The demo's costs are configuration (eval's --costs is not a demo option).
      throw new IllegalArgumentException(e.getMessage() + "; give the per-token cost of each tier after the small"
          + " model with --set " + CascadeConfig.COST_TIERS.name() + "=C1,...,CN", e);
    }
  }

  /**
   * The threshold that passes {@code fraction} of the examples that reach a tier ({@code reaches})
   * on to the next, calibrated on those examples' scores alone; {@code reaches} is then narrowed to
   * the examples the tier passes on (score above the threshold), the traffic of the next tier.
   *
   * @throws IllegalStateException if no example reaches the tier
   */
  static double passOn(double[] scores, boolean[] reaches, double fraction, String tier) {
    if (scores.length != reaches.length) {
      throw new IllegalArgumentException(scores.length + " scores for " + reaches.length + " examples");
    }
    double[] reaching = IntStream.range(0, scores.length).filter(k -> reaches[k]).mapToDouble(k -> scores[k])
        .toArray();
    if (reaching.length == 0) {
      throw new IllegalStateException("no validation example reaches tier " + tier
          + ": the small model's threshold defers none; lower it or raise --target-escalation");
    }
    double threshold = ThresholdCalibrator.threshold(reaching, fraction);
    for (int k = 0; k < scores.length; k++) {
      reaches[k] = reaches[k] && scores[k] > threshold;
    }
    return threshold;
  }

  private static int count(boolean[] flags) {
    int n = 0;
    for (boolean f : flags) {
      n += f ? 1 : 0;
    }
    return n;
  }

  @Override
  public void close() {
    for (LargeModelServer server : servers) {
      try {
        server.stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    generators.forEach(TextGenerator::close);
  }
}
