package dev.cascade.router.config;


import dev.cascade.models.CacheSettings;
import dev.cascade.models.CpuThreads;
import dev.cascade.router.policy.TierPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The router's configuration: one immutable, typed value built from, in increasing precedence,
 * the defaults below, an optional properties file, environment variables ({@code CASCADE_*}) and
 * command-line flags. Every value is parsed and validated when the object is built; a bad value
 * or an unknown key fails with a {@link ConfigException} naming the key and where it came from.
 *
 * <p>Keys under {@code kafka.} are passed through, prefix removed, to every Kafka client the
 * router creates (SASL/SSL settings for production brokers, for instance).
 */
public final class CascadeConfig {

  public static final ConfigKey<String> BOOTSTRAP_SERVERS = new ConfigKey<>("bootstrap.servers", "", String::trim,
      CascadeConfig::validBootstrapServers, "empty or HOST:PORT,HOST:PORT,...",
      "Kafka brokers; empty means the embedded broker (demo) and is an error for serve");

  /** Empty, or a comma-separated list of {@code HOST:PORT} (as the Kafka client takes them). */
  static boolean validBootstrapServers(String servers) {
    if (servers.isEmpty()) {
      return true;
    }
    for (String entry : servers.split(",", -1)) {
      String e = entry.trim();
      int colon = e.lastIndexOf(':');
      if (colon <= 0 || e.chars().anyMatch(Character::isWhitespace) || !e.substring(colon + 1).matches("[0-9]{1,5}")
          || Integer.parseInt(e.substring(colon + 1)) > 65_535) {
        return false;
      }
    }
    return true;
  }
  public static final ConfigKey<String> APPLICATION_ID = ConfigKey.nonEmpty("application.id", "cascade-router",
      "Kafka Streams application.id: instances sharing it share the work");
  public static final ConfigKey<String> TOPIC_REQUESTS = ConfigKey.nonEmpty("topic.requests", "cascade.requests", "requests topic");
  public static final ConfigKey<String> TOPIC_RESPONSES = ConfigKey.nonEmpty("topic.responses", "cascade.responses", "responses topic");
  public static final ConfigKey<String> TOPIC_ESCALATIONS = ConfigKey.nonEmpty("topic.escalations", "cascade.escalations", "escalations topic");
  public static final ConfigKey<String> TOPIC_OUTCOMES = ConfigKey.nonEmpty("topic.outcomes", "cascade.outcomes", "routing outcomes topic");
  public static final ConfigKey<String> TOPIC_FEEDBACK = ConfigKey.nonEmpty("topic.feedback", "cascade.feedback", "user feedback topic");
  public static final ConfigKey<String> TOPIC_DEAD_LETTERS = ConfigKey.nonEmpty("topic.dead-letters", "cascade.dead-letters", "dead-letter topic");
  public static final ConfigKey<String> TOPIC_POLICY = ConfigKey.nonEmpty("topic.policy", "cascade.policy", "compacted policy topic");
  public static final ConfigKey<String> TOPIC_RULES = ConfigKey.nonEmpty("topic.rules", "cascade.rules",
      "compacted rules topic: learned rule versions (key NAME@VERSION)");
  public static final ConfigKey<String> TOPIC_REPLY_PREFIX = new ConfigKey<>("topic.reply-prefix", "", s -> s,
      s -> s.matches("[A-Za-z0-9._-]{0,200}"), "empty, or at most 200 of the characters a-z A-Z 0-9 . _ -",
      "prefix of the front doors' own reply topics (<prefix><instance id>); empty: topic.responses followed by '.'");
  public static final ConfigKey<Integer> TOPIC_PARTITIONS = ConfigKey.intInRange("topic.partitions", 4, 1, 1024,
      "partitions of each topic the router creates (the policy topic has 1)");
  public static final ConfigKey<Integer> TOPIC_REPLICATION = ConfigKey.intInRange("topic.replication-factor", 1, 1, 16,
      "replication factor of the topics the router creates");

  public static final ConfigKey<String> SMALL_MODEL = ConfigKey.nonEmpty("small.model", "small",
      "small model: 'small', 'medium', 'large' (bundled) or a directory with model.onnx and tokenizer.json");
  public static final ConfigKey<String> LARGE_MODEL = ConfigKey.nonEmpty("large.model", "large",
      "model the embedded large-model server runs");
  public static final ConfigKey<String> ENGINE = new ConfigKey<>("model.engine", "auto", s -> s,
      s -> s.equals("auto") || s.equals("OnnxRuntime") || s.equals("TensorRT"),
      "one of auto, OnnxRuntime, TensorRT", "DJL engine for the in-process models");
  /** {@link #MODEL_THREADS}'s parsed {@code auto}: half the cores, at least one. */
  public static final int AUTO_THREADS = -1;
  public static final ConfigKey<Integer> MODEL_THREADS = new ConfigKey<>("model.threads", "auto",
      s -> s.equals("auto") ? AUTO_THREADS : Integer.parseInt(s), v -> v >= AUTO_THREADS && v <= 1024,
      "'auto' or an integer from 0 to 1024",
      "ONNX Runtime threads per forward pass of each in-process model: auto is half the cores (at least 1), 0 one per core");
  public static final ConfigKey<Integer> MODEL_DECODERS = ConfigKey.intInRange("model.decoders", 1, 1, 64,
      "decoding threads of each in-process model, each running its own batches (one predictor each)");
  public static final ConfigKey<Boolean> MODEL_SPINNING = ConfigKey.bool("model.spinning", false,
      "let idle ONNX Runtime threads spin; only pays when the model has the cores to itself");
  public static final ConfigKey<Boolean> MODEL_KV_CACHE = ConfigKey.bool("model.kv-cache", true,
      "decode with a key/value cache when the model's graph takes one (past_key_values.N.key/value); false recomputes every step");
  public static final ConfigKey<Integer> MODEL_KV_CACHE_MB = ConfigKey.intInRange("model.kv-cache-mb", 0, 0, 1 << 20,
      "MiB of key/value cache the rows of one decoding thread may reserve (a row reserves prompt plus token limit, at 4"
          + " bytes a value, 2 for a float16 or bfloat16 cache);"
          + " rows past it wait to join; 0: bounded by the batch size alone");
  public static final ConfigKey<dev.cascade.models.DraftWindow> MODEL_DRAFT_WINDOW = new ConfigKey<>("model.draft-window",
      "8,2,16", dev.cascade.models.DraftWindow::parse, w -> true, "FIRST,MIN,MAX with 1 <= MIN <= FIRST <= MAX, or one number",
      "draft tokens a model this process runs checks per forward pass when it is given a draft (speculative"
          + " escalation: the large model and middle tiers of demo): FIRST in the first pass, then twice the last"
          + " check while drafts are right (at most MAX), what was kept plus one after a miss (at least MIN); one number"
          + " N fixes it at N. Wider suits a GPU; the answer is the same whatever it is");
  private static final String LARGE_TARGET_NAME = "large.target";
  public static final ConfigKey<String> LARGE_TARGET = new ConfigKey<>(LARGE_TARGET_NAME, "",
      CascadeConfig::checkedLargeTarget, s -> true,
      "empty or one of " + dev.cascade.router.escalation.LargeTarget.FORMS,
      "the large model: host:port or cascade://host:port (cascade.v1.LargeModel), kserve://host:port/MODEL (KServe v2"
          + " gRPC), openai://host:port/v1?model=NAME (OpenAI-compatible /v1/completions, &api=chat for"
          + " /v1/chat/completions; openais:// for https), anthropic://host:port/v1?model=NAME (Anthropic's"
          + " /v1/messages; anthropics:// for https); empty means the embedded one (demo)");
  public static final ConfigKey<List<dev.cascade.router.escalation.EscalationTiers.Target>> TIERS = new ConfigKey<>(
      "tiers", "", CascadeConfig::checkedTiers, t -> true, "NAME=TARGET,NAME=TARGET,...",
      "the models after the small one, in cascade order, each NAME=TARGET (TARGET as large.target); empty: two"
          + " models, large.model at large.target. The last is always served; each other one has a rule in"
          + " policy.tier-rules");
  public static final ConfigKey<String> LARGE_KSERVE_TEXT_INPUT = ConfigKey.nonEmpty("large.kserve.text-input",
      "text_input", "kserve:// targets: the BYTES input tensor carrying the prompt");
  public static final ConfigKey<String> LARGE_KSERVE_TEXT_OUTPUT = ConfigKey.nonEmpty("large.kserve.text-output",
      "text_output", "kserve:// targets: the BYTES output tensor carrying the answer");
  public static final ConfigKey<String> LARGE_KSERVE_MAX_TOKENS_INPUT = ConfigKey.string("large.kserve.max-tokens-input",
      "max_tokens", "kserve:// targets: the INT32 input tensor carrying the token limit; empty: not sent");
  public static final ConfigKey<String> LARGE_OPENAI_API_KEY_FILE = ConfigKey.string("large.openai.api-key-file", "",
      "openai:// and anthropic:// targets: file holding the API key, sent as 'Authorization: Bearer KEY' (anthropic://:"
          + " as 'x-api-key: KEY'); empty: none");
  public static final ConfigKey<Integer> LARGE_MAX_NEW_TOKENS = ConfigKey.intInRange("large.max-new-tokens", 0, 0, 1_000_000,
      "the large model's token limit; escalations ask for at most this. 0: ask the server (LargeModel/Info; kserve://"
          + " and openai:// targets cannot say, so 0 there means no limit)");
  public static final ConfigKey<List<Long>> LARGE_PARAMETERS = new ConfigKey<>("large.parameters", "",
      CascadeConfig::parameterList, p -> true, "counts of parameters (an integer, or a number with K, M, B or T: 7B,"
          + " 1.5B), comma-separated",
      "the trainable parameters of each model after the small one, in the order of tiers (one count for large.target):"
          + " serve's check that the models grow along the cascade uses them for a tier whose server does not say"
          + " (kserve://, openai://); 0: not given. Empty: only what the servers say (LargeModel/Info) is checked");
  public static final ConfigKey<Integer> MAX_NEW_TOKENS = ConfigKey.intInRange("generation.max-new-tokens", 48, 1, 512,
      "default token limit of a request that does not set one");
  public static final ConfigKey<Integer> STREAM_THREADS = ConfigKey.intInRange("streams.threads", 1, 1, 64,
      "Kafka Streams threads of this instance (the small model runs off them, small.batch.in-flight batches per task at a time)");
  public static final ConfigKey<Integer> STREAMS_IDLE_POLL_MS = ConfigKey.intInRange("streams.idle-poll-ms", 100, 1,
      60_000, "longest a Kafka Streams poll blocks once the router has been idle for a second (no request"
          + " waiting, no batch running, no large-model call in flight, no records polled); until then the 5 ms"
          + " poll.ms holds, and records end either poll as they arrive. 5 or less: always 5 ms");
  public static final ConfigKey<Integer> STREAMS_STARTUP_TIMEOUT_MS = ConfigKey.intInRange("streams.startup-timeout-ms",
      300_000, 0, 86_400_000, "serve and learn: longest their Kafka Streams instance may take to be RUNNING at"
          + " start-up (joining the group, restoring state stores from their changelogs) before the command gives"
          + " up and exits 1; 0: no limit");
  public static final ConfigKey<Integer> BATCH_SIZE = ConfigKey.intInRange("small.batch.size", 32, 1, 1024,
      "most requests in one small-model micro-batch");
  public static final ConfigKey<Integer> BATCH_WAIT_MS = ConfigKey.intInRange("small.batch.wait-ms", 10, 0, 10_000,
      "longest a request waits for its micro-batch to fill");
  public static final ConfigKey<Integer> BATCH_TIMEOUT_MS = ConfigKey.intInRange("small.batch.timeout-ms", 30_000, 1,
      3_600_000, "longest a small-model batch may run; past it (a hung model) its requests are escalated to the large"
          + " model, marked small_failure");
  public static final ConfigKey<Integer> BATCH_IN_FLIGHT = ConfigKey.intInRange("small.batch.in-flight",
      4, 1, 64,
      "most small-model batches of one stream task generating at once; a stream thread works on one task's records"
          + " at a time, so with one the model waits while the thread forwards answers and gathers the next batch");
  /** {@link #EXPIRED_REQUESTS}: a request whose deadline has passed is answered deadline_exceeded, not generated. */
  public static final String EXPIRED_SKIP = "skip";
  /** {@link #EXPIRED_REQUESTS}: every request is generated, whatever its deadline (it only bounds escalation). */
  public static final String EXPIRED_GENERATE = "generate";
  public static final ConfigKey<String> EXPIRED_REQUESTS = new ConfigKey<>("small.expired-requests", EXPIRED_SKIP,
      s -> s, s -> s.equals(EXPIRED_SKIP) || s.equals(EXPIRED_GENERATE), "skip or generate",
      "a request whose deadline_ms has passed (its caller stopped waiting) when the small model would take it: skip,"
          + " answer it at once without any model, marked deadline_exceeded (the doors answer DEADLINE_EXCEEDED / 408);"
          + " generate, run the cascade for it all the same (its deadline then only bounds the escalation)");
  public static final ConfigKey<Integer> DEADLINE_GRACE_MS = ConfigKey.intInRange("small.deadline-grace-ms", 0, 0,
      600_000, "with small.expired-requests skip: how long past a request's deadline_ms, by this router's clock, it is"
          + " still generated; deadline_ms is the caller's (or its door's) wall clock, so set it to the worst clock"
          + " skew between the doors' and Kafka clients' machines and the routers'");
  public static final ConfigKey<Boolean> SHED_SHORT_REQUESTS = ConfigKey.bool("small.shed-short-requests", false,
      "with small.expired-requests skip: also answer deadline_exceeded, without any model, a request whose deadline_ms"
          + " (plus small.deadline-grace-ms) is nearer than the small model's median generation time over its last 32"
          + " batches of the request's token limit (once 5 have run): generated, its answer would most likely come"
          + " after its caller stopped waiting; false sheds only requests whose deadline has passed");
  public static final ConfigKey<Boolean> EARLY_DEFER = ConfigKey.bool("small.early-defer", true,
      "stop decoding a request as soon as its deferral is certain (chow-sum, chow-quantile at alpha 0, a fixed"
          + " threshold: the decisions are those of decoding to the end), and apply the policy's early-defer margin;"
          + " false decodes every request to its end");
  public static final ConfigKey<Integer> EARLY_DEFER_EVERY = ConfigKey.intInRange("small.early-defer-every",
      dev.cascade.router.policy.EarlyDeferral.DEFAULT_EVERY, 1, 512,
      "with the policy's early-defer margin (rules whose early deferral is not exact): score the tokens so far after"
          + " every this many tokens only, not after each (the exact rules keep a running score and check every token)");
  public static final ConfigKey<Double> EARLY_DEFER_LABEL_SHARE = ConfigKey.doubleInRange(
      "small.early-defer-label-share", 0.0, 0.0, 1.0,
      "share of the requests early deferral would stop that are decoded to the end all the same (drawn by request"
          + " id), so that the continuous learner gets their whole answers as labels; each records this share as its"
          + " label_propensity and weighs 1/share in training. 0 stops them all: their answers are unfinished and no"
          + " label. Under the exact rules the decisions are the same either way; under a margin a sampled one is decided on"
          + " its whole answer. A live policy's early_defer_label_share (policy set --early-defer-label-share)"
          + " overrides it while in force");

  public static final ConfigKey<Integer> ESCALATION_MAX_IN_FLIGHT = ConfigKey.intInRange("escalation.max-in-flight", 64, 1, 100_000,
      "most large-model calls in flight");
  public static final ConfigKey<Integer> ESCALATION_DEADLINE_MS = ConfigKey.intInRange("escalation.deadline-ms", 5_000, 1, 600_000,
      "deadline of one large-model call attempt; shorter when the request's deadline_ms comes first");
  public static final ConfigKey<Integer> ESCALATION_MAX_WAIT_MS = ConfigKey.intInRange("escalation.max-wait-ms", 60_000, 0,
      3_600_000, "how long an escalation waits (parked, retried) for an unavailable large model before it is answered"
          + " SMALL_DEGRADED, counted from its first failed call");
  public static final ConfigKey<Boolean> ESCALATION_FAIL_FAST_WHEN_OPEN = ConfigKey.bool("escalation.fail-fast-when-open",
      true, "answer an escalation SMALL_DEGRADED at once when its call fails while the large model's circuit breaker is"
          + " open (the model is known to be down), instead of waiting up to escalation.max-wait-ms; false waits as for"
          + " any failure (while the breaker is half-open, its trial calls out, escalations wait either way)");
  public static final ConfigKey<Boolean> ESCALATION_SKIP_UNAVAILABLE_TIERS = ConfigKey.bool(
      "escalation.skip-unavailable-tiers", true, "in a cascade of more than two models, send an escalation whose wait"
          + " for a middle tier ended with that tier unavailable (its breaker open, or UNAVAILABLE after the retries)"
          + " on to the next tier instead of answering it SMALL_DEGRADED; the last tier is never skipped");
  public static final ConfigKey<Integer> ESCALATION_RETRIES = ConfigKey.intInRange("escalation.retries", 2, 0, 20,
      "retries of a large-model call that failed with UNAVAILABLE");
  public static final ConfigKey<Integer> ESCALATION_BACKOFF_MS = ConfigKey.intInRange("escalation.backoff-ms", 50, 0, 60_000,
      "first retry backoff, doubled on each retry");
  public static final ConfigKey<Boolean> ESCALATION_SPECULATIVE = ConfigKey.bool("escalation.speculative", true,
      "send the small model's answer as a draft with each escalation when the large model's server reports the same"
          + " tokenizer (cascade.v1 LargeModel/Info): the large model checks it, same answer, less time when not busy");
  public static final ConfigKey<Boolean> ESCALATION_EARLY_DEFER = ConfigKey.bool("escalation.early-defer", true,
      "ask a middle tier of a cascade whose rule is chow-sum or chow-quantile at alpha 0 to stop decoding once its"
          + " answer's score passes the tier's threshold (cascade:// servers; the same decisions as decoding to the end)");
  public static final ConfigKey<Double> ESCALATION_EARLY_DEFER_LABEL_SHARE = ConfigKey.doubleInRange(
      "escalation.early-defer-label-share", 0.0, 0.0, 1.0,
      "with escalation.early-defer: share of the requests a middle tier's early deferral would stop that decode to the"
          + " end all the same (drawn by request id and tier), so that eval --outcomes --tier N has their whole"
          + " answers; each records this share as its tier answer's label_propensity and weighs 1/share there. The"
          + " decisions are the same either way; 0 stops them all");
  public static final ConfigKey<Double> BREAKER_FAILURE_RATE = ConfigKey.doubleInRange("escalation.breaker.failure-rate", 50.0, 1.0, 100.0,
      "failure percentage that opens the large-model circuit breaker");
  public static final ConfigKey<Integer> BREAKER_OPEN_MS = ConfigKey.intInRange("escalation.breaker.open-ms", 1_000, 1, 3_600_000,
      "how long the breaker stays open before trying again (parked escalations back off on their own)");

  public static final ConfigKey<String> POLICY_RULE = ConfigKey.nonEmpty("policy.rule", "chow-quantile",
      "starting deferral rule: chow-sum, chow-average, chow-quantile");
  public static final ConfigKey<Double> POLICY_ALPHA = ConfigKey.doubleInRange("policy.alpha", 0.0, 0.0, 1.0,
      "alpha of chow-quantile");
  public static final ConfigKey<Double> POLICY_THRESHOLD = ConfigKey.finiteDouble("policy.threshold", 1.0,
      "starting threshold: defer when the score is greater");
  public static final ConfigKey<Double> POLICY_EXPLORATION = ConfigKey.doubleInRange("policy.exploration-rate", 0.0, 0.0, 1.0,
      "fraction of accepted requests escalated anyway");
  public static final ConfigKey<Double> POLICY_TARGET_RATE = ConfigKey.doubleInRange("policy.target-escalation-rate", 0.0, 0.0, 1.0,
      "when above 0, hold this escalation fraction instead of a fixed threshold");
  public static final ConfigKey<Double> POLICY_TARGET_EARLY_DEFER_MARGIN = ConfigKey.doubleInRange(
      "policy.target-early-defer-margin", dev.cascade.router.policy.TargetRateController.DEFAULT_STOP_MARGIN, 0.0, 1.0,
      "under a target escalation rate (the small model's, or a middle tier's), early deferral (small.early-defer,"
          + " escalation.early-defer; chow-sum and chow-quantile at alpha 0) stops a request only once its running score"
          + " passes the decision threshold by as much as the scores of this share of the recent window just below that"
          + " threshold spread, since the threshold moves with every decision; none stops during the controller's"
          + " warm-up. 1 stops none under a target; 0 stops at the decision threshold in force, which can change"
          + " decisions");
  public static final ConfigKey<Boolean> POLICY_WARM_START = ConfigKey.bool("policy.warm-start", true,
      "on start, seed the target-rate controller with the scores of the newest outcomes on the outcomes topic");
  public static final ConfigKey<String> POLICY_FALLBACK_RULE = ConfigKey.nonEmpty("policy.fallback-rule", "chow-sum",
      "rule that scores a request when the policy's rule cannot (missing version, another model's rule, a failure)");
  public static final ConfigKey<List<TierPolicy>> POLICY_TIER_RULES = new ConfigKey<>("policy.tier-rules", "",
      CascadeConfig::checkedTierRules, t -> true, "RULE:THRESHOLD,...",
      "with tiers of three or more models: the rule of each middle tier, in order (tier 1 first), as RULE:THRESHOLD"
          + " (chow-sum:9.5, chow-quantile-0.1:2.3); a tier passes a request on when its own answer's score exceeds"
          + " the threshold");
  public static final ConfigKey<List<Double>> POLICY_TIER_TARGET_RATES = new ConfigKey<>("policy.tier-target-rates", "",
      CascadeConfig::costList, rates -> rates.stream().allMatch(r -> r >= 0 && r <= 1),
      "numbers in [0, 1], comma-separated, one per middle tier",
      "with policy.tier-rules: the share of the requests reaching each middle tier that it passes on, held on live"
          + " traffic from the tier's recent scores (its threshold in policy.tier-rules applies until the tier has seen"
          + " 200); 0 for a tier's fixed threshold; empty: fixed thresholds for all");
  public static final ConfigKey<List<Double>> POLICY_TIER_EXPLORATION_RATES = new ConfigKey<>(
      "policy.tier-exploration-rates", "", CascadeConfig::costList, rates -> rates.stream().allMatch(r -> r >= 0 && r <= 1),
      "numbers in [0, 1], comma-separated, one per middle tier",
      "with policy.tier-rules: the share of the requests each middle tier's rule would serve that are passed on to"
          + " the next tier anyway (drawn by request id and tier), so that eval --outcomes --tier N can evaluate the"
          + " tier's rule; counted toward a tier's target rate; empty: none explored");
  public static final ConfigKey<String> POLICY_SHADOW_RULES = new ConfigKey<>("policy.shadow-rules", "", s -> s,
      CascadeConfig::shadowRulesOnce, "comma-separated rules, each named once, at most "
          + dev.cascade.router.policy.DeferralPolicy.MAX_SHADOW_RULES,
      "comma-separated rules scored on every request and logged in the outcome, never acted on (e.g. chow-sum,posthoc-quantile@0)");
  /** How an optional key is unset ({@code policy.early-defer-margin=off}), and how it is shown unset. */
  static final String UNSET = "off";
  public static final ConfigKey<java.util.OptionalDouble> POLICY_EARLY_DEFER_MARGIN = new ConfigKey<>(
      "policy.early-defer-margin", UNSET,
      s -> s.equalsIgnoreCase(UNSET) ? java.util.OptionalDouble.empty() : java.util.OptionalDouble.of(Double.parseDouble(s)),
      v -> v.isEmpty() || (Double.isFinite(v.getAsDouble()) && v.getAsDouble() >= 0.0), "off or a finite number >= 0",
      "for rules whose early deferral is not exact: stop the small model once the score on the tokens so far exceeds"
          + " threshold + this margin, and defer (changes some decisions; see EVALUATION.md)");

  public static final ConfigKey<String> POLICY_PREGEN_SKIP_RULE = ConfigKey.string("policy.pregen-skip-rule", "",
      "the pre-generation skip: a learned prompt-only rule on the rules topic, NAME or NAME@VERSION (feature layout"
          + " prompt/v1); requests it scores above policy.pregen-skip-threshold skip small-model decoding and are"
          + " escalated at once; empty: off");
  public static final ConfigKey<Double> POLICY_PREGEN_SKIP_THRESHOLD = ConfigKey.finiteDouble(
      "policy.pregen-skip-threshold", 0.5, "with policy.pregen-skip-rule: skip when the rule's score is greater");

  public static final ConfigKey<String> LEARN_APPLICATION_ID = ConfigKey.nonEmpty("learn.application-id", "cascade-learner",
      "Kafka Streams application.id of the continuous learner (cascade learn)");
  public static final ConfigKey<String> LEARN_RULE = new ConfigKey<>("learn.rule", "posthoc-quantile", s -> s,
      s -> s.equals("posthoc-quantile") || s.equals("posthoc-embed"), "posthoc-quantile or posthoc-embed",
      "which rule the learner trains");
  public static final ConfigKey<Integer> LEARN_MAX_EXAMPLES = ConfigKey.intInRange("learn.max-examples", 5_000, 100, 10_000_000,
      "most recent labelled outcomes the learner keeps");
  public static final ConfigKey<Integer> LEARN_RETRAIN_LABELS = ConfigKey.intInRange("learn.retrain-every-labels", 500, 1, 10_000_000,
      "retrain after this many new labels");
  public static final ConfigKey<Integer> LEARN_RETRAIN_MS = ConfigKey.intInRange("learn.retrain-every-ms", 600_000, 1_000, Integer.MAX_VALUE,
      "retrain after this long when there are new labels");
  public static final ConfigKey<Integer> LEARN_MIN_LABELS = ConfigKey.intInRange("learn.min-labels", 500, 20, 10_000_000,
      "labelled outcomes needed before the first training, and in any training set");
  public static final ConfigKey<Double> LEARN_HOLDOUT = ConfigKey.doubleInRange("learn.holdout-fraction", 0.25, 0.05, 0.8,
      "newest fraction of the examples held out to compare challenger and champion");
  public static final ConfigKey<Integer> LEARN_MIN_HOLDOUT = ConfigKey.intInRange("learn.min-holdout", 200, 10, 10_000_000,
      "fewest comparable examples in the held-out slice for a comparison, and fewest before it");
  public static final ConfigKey<Integer> LEARN_FEEDBACK_WINDOW_MS = ConfigKey.intInRange("learn.feedback-window-ms", 300_000, 0,
      Integer.MAX_VALUE, "how long an outcome waits for feedback, and feedback for its outcome, before either is used or dropped");
  public static final ConfigKey<Double> LEARN_MAX_WEIGHT = ConfigKey.doubleInRange("learn.max-weight", 50.0, 1.0, 1e6,
      "largest inverse-propensity weight of a training example (clipping trades a little bias for less variance)");
  public static final ConfigKey<Double> LEARN_HALF_LIFE = ConfigKey.doubleInRange("learn.half-life-labels", 1_000.0, 0.0,
      1e9, "training weights halve for every this many newer labelled examples, so the rule leans towards recent"
          + " traffic; 0: every example alike");
  public static final ConfigKey<Double> LEARN_REFRESH_MARGIN = ConfigKey.doubleInRange("learn.refresh-margin", 0.0, 0.0,
      0.5, "a challenger replaces a learned champion when it is not worse on the held-out slice and the lower bound of"
          + " its interval is above minus this margin (it has seen newer traffic); 0 (the default): it must always be better,"
          + " its lower bound above zero");
  public static final ConfigKey<String> LEARN_PRIOR = ConfigKey.string("learn.prior", "",
      "a labelled JSONL file (prompt, reference per line) the learner also trains on, as if older than all its"
          + " traffic: answered at start by small.model and large.model (both local; generations cached), never held out,"
          + " its weight fading with the half-life as the traffic grows; empty (the default): no prior");
  public static final ConfigKey<Boolean> LEARN_RESPECT_PINS = ConfigKey.bool("learn.respect-pins", true,
      "while the policy in force is an operator's pin (it names a rule version, NAME@VERSION, or a learned rule other"
          + " than learn.rule) the learner still publishes the rule versions it earns to the rules topic but writes no"
          + " policy (no switch, no revert); false: its policy replaces the pin");
  public static final ConfigKey<Double> LEARN_TIER_ANSWER_VALUE = ConfigKey.doubleInRange("learn.tier-answer-value", 0.0,
      0.0, 1e12, "what a right answer is worth, in cost units (cost.tiers.per-token's): the learner then retunes each"
          + " exploring middle tier's threshold (policy.tier-exploration-rates) to maximise this value times exact match"
          + " less the next tier's cost, from the tier's live outcomes, publishing it when it beats the threshold in force"
          + " on held-out outcomes; 0 (the default): middle tiers are not retuned");
  public static final ConfigKey<Double> LEARN_SMALL_ANSWER_VALUE = ConfigKey.doubleInRange("learn.small-answer-value",
      0.0, 0.0, 1e12, "what a right answer is worth, in cost units, for the small model's threshold: the learner then"
          + " retunes it (under a target rate, the rate) to maximise this value times exact match less the cost of every"
          + " call after the small model, from the outcomes of the rule in force (policy.exploration-rate above 0),"
          + " publishing it when it beats the threshold in force on held-out outcomes; a rule the learner publishes"
          + " keeps the share that threshold passes on; 0 (the default): the threshold is the operator's");
  public static final ConfigKey<Double> LEARN_SMALL_MAX_PASS_ON = ConfigKey.doubleInRange("learn.small-max-pass-on",
      1.0, 0.0, 1.0, "with learn.small-answer-value: the largest share of the requests the small model's rule may pass"
          + " on at a threshold the learner chooses (exploration comes on top), e.g. what the large model can take; a"
          + " threshold in force that passes on more is replaced by the best under it whatever its gain; 1: no cap");
  public static final ConfigKey<Double> LEARN_TIER_MAX_PASS_ON = ConfigKey.doubleInRange("learn.tier-max-pass-on",
      1.0, 0.0, 1.0, "with learn.tier-answer-value: the largest share of the requests reaching a middle tier its rule may"
          + " pass on at a threshold (or rule) the learner chooses, every middle tier alike; a threshold in force that"
          + " passes on more is replaced by the best under it whatever its gain; 1: no cap");
  public static final ConfigKey<List<String>> LEARN_TIER_RULES = new ConfigKey<>("learn.tier-rules", "",
      CascadeConfig::tierRuleNames, r -> true, "RULE,... (chow-sum, chow-average, chow-quantile-ALPHA)",
      "with learn.tier-answer-value: the rules the learner may also give a middle tier, each at its best threshold,"
          + " where one does better than the rule in force (chosen and checked as a threshold is; the configured"
          + " policy.tier-rules are weighed too); empty: the rule in force is kept and only its threshold retuned");
  public static final ConfigKey<Double> LEARN_TIER_HALF_LIFE = ConfigKey.doubleInRange("learn.tier-half-life", 0.0,
      0.0, 1e9, "with learn.tier-answer-value or learn.small-answer-value: a tier's usable outcomes weigh half for"
          + " every this many newer ones (by created_at_ms), so its threshold follows a shift in the traffic sooner;"
          + " 0: every outcome of the window alike");
  public static final ConfigKey<Integer> LEARN_TIER_EVERY_MS = ConfigKey.intInRange("learn.tier-every-ms", 60_000, 1_000,
      Integer.MAX_VALUE, "with learn.tier-answer-value or learn.small-answer-value: how often the thresholds are"
          + " reconsidered");
  public static final ConfigKey<Integer> LEARN_TIER_OUTCOMES = ConfigKey.intInRange("learn.tier-outcomes", 20_000, 100,
      10_000_000, "with learn.tier-answer-value or learn.small-answer-value: about how many of the newest outcomes each"
          + " round reads, and as many of the newest feedback records (the outcomes that carry a label are used)");
  public static final ConfigKey<Integer> LEARN_FOLDS = ConfigKey.intInRange("learn.folds", 3, 2, 20,
      "cross-validation folds for choosing the learner");
  public static final ConfigKey<Integer> LEARN_RESAMPLES = ConfigKey.intInRange("learn.bootstrap-resamples", 1_000, 100, 1_000_000,
      "paired-bootstrap resamples of the challenger-champion comparison");
  public static final ConfigKey<String> LEARN_LEARNERS = new ConfigKey<>("learn.learners", "fast", s -> s,
      s -> s.equals("fast") || s.equals("all"), "fast or all",
      "candidate learners: fast (logistic regression and one gradient-boosted model) or all (those of train-rule)");

  public static final ConfigKey<Double> COST_SMALL = ConfigKey.doubleInRange("cost.small.per-token", 1.0, 0.0, 1e12,
      "cost units of one small-model token (prompt and output)");
  public static final ConfigKey<Double> COST_LARGE = ConfigKey.doubleInRange("cost.large.per-token", 20.0, 0.0, 1e12,
      "cost units of one large-model token (prompt and output)");

  public static final ConfigKey<Map<String, Integer>> SCHEMAS_WRITE_VERSIONS = new ConfigKey<>("schemas.write-versions",
      "", CascadeConfig::checkedWriteVersions, v -> true, "TYPE=VERSION,... (record types and versions `cascade"
          + " schemas` lists)",
      "for a rolling upgrade: the version each named record type is written in (CascadeResponse=6,RoutingOutcome=13),"
          + " one the instances of the release being replaced can read; the types not named, and empty: this release's"
          + " own versions");
  public static final ConfigKey<List<Double>> COST_TIERS = new ConfigKey<>("cost.tiers.per-token", "",
      CascadeConfig::costList, costs -> costs.stream().allMatch(c -> c >= 0 && c <= 1e12),
      "numbers from 0 to 1e12, comma-separated",
      "with tiers: cost units of one token of each model in tiers, in order, never falling (smallest first); empty:"
          + " cost.large.per-token for a single tier (required for two or more)");

  public static final ConfigKey<Integer> GRPC_PORT = ConfigKey.intInRange("grpc.port", 0, 0, 65_535,
      "port of the router's gRPC front door; 0 picks a free one");
  public static final ConfigKey<String> GRPC_HOST = host("grpc.host",
      "serve: the interface the gRPC front door listens on (an IP address, or a name resolved at start); empty: every"
          + " interface");
  public static final ConfigKey<Integer> HTTP_PORT = ConfigKey.intInRange("http.port", 0, 0, 65_535,
      "port of the router's OpenAI-compatible HTTP door (/v1/completions, /v1/chat/completions, /v1/responses,"
          + " /v1/models); 0 picks"
          + " a free one");
  public static final ConfigKey<Boolean> HTTP_ENABLED = ConfigKey.bool("http.enabled", true,
      "serve the OpenAI-compatible HTTP door; false: no HTTP door (the gRPC door only)");
  public static final ConfigKey<String> HTTP_HOST = host("http.host",
      "the interface the HTTP door listens on (an IP address, or a name resolved at start); empty: the gRPC door's");
  public static final ConfigKey<Integer> HTTP_MAX_IN_FLIGHT = ConfigKey.intInRange("http.max-in-flight", 1_024, 1,
      1_000_000, "most calls waiting for their answer on the HTTP door at once; more are answered 429");
  public static final ConfigKey<Integer> HTTP_BODY_TIMEOUT_MS = ConfigKey.intInRange("http.body-timeout-ms", 10_000, 1,
      600_000, "how long a request body on the HTTP door may take to arrive in full (counted from its headers), on top"
          + " of the time http.min-body-rate gives its size; then 408");
  public static final ConfigKey<Integer> HTTP_MIN_BODY_RATE = ConfigKey.intInRange("http.min-body-rate", 65_536, 1,
      1_000_000_000, "bytes per second a request body on the HTTP door must arrive at beyond http.body-timeout-ms:"
          + " each of its bytes adds 1/rate seconds to the time it is given (a body sent chunked: the largest body's)");
  public static final ConfigKey<Integer> HTTP_MAX_BODY_READS = ConfigKey.intInRange("http.max-body-reads", 256, 1,
      100_000, "most request bodies the HTTP door reads at once (each read without holding a thread, into at most"
          + " 1 MB); with every place taken, a new body takes the place of one that has had no byte for a second"
          + " (answered 408), else it is answered 429");
  public static final ConfigKey<List<String>> HTTP_CORS_ALLOWED_ORIGINS = new ConfigKey<>("http.cors-allowed-origins",
      "", CascadeConfig::originList, CascadeConfig::validOrigins,
      "*, or origins (scheme://host or scheme://host:port, no path) comma-separated",
      "browser origins allowed to call the HTTP door (CORS), or * for any; empty: none (no CORS headers, a browser's"
          + " preflight is not answered)");
  /** {@link #HTTP_CHAT_HISTORY}: a chat's prompt is its last user message. */
  public static final String CHAT_LAST_USER = "last-user";
  /** {@link #HTTP_CHAT_HISTORY}: a chat's prompt is the transcript of its messages. */
  public static final String CHAT_TRANSCRIPT = "transcript";
  public static final ConfigKey<String> HTTP_CHAT_HISTORY = new ConfigKey<>("http.chat-history", CHAT_LAST_USER,
      s -> s, s -> s.equals(CHAT_LAST_USER) || s.equals(CHAT_TRANSCRIPT), "last-user or transcript",
      "what of a chat the HTTP door sends its models: last-user, the last user message alone (the earlier messages"
          + " are counted in cascade_http_chat_messages_not_sent_total); transcript, every message with text, one line"
          + " each in http.chat-turn-format, then http.chat-answer-cue, the oldest turns between the leading system"
          + " messages and the last user message left out when the whole would be over a model's prompt limit");
  public static final ConfigKey<String> HTTP_CHAT_TURN_FORMAT = new ConfigKey<>("http.chat-turn-format",
      "{role}: {content}\\n", dev.cascade.models.openai.ChatTranscript::unescape,
      s -> dev.cascade.models.openai.ChatTranscript.turnFormatProblem(s) == null,
      "text holding {content} once ({role} where the role goes; escapes \\n, \\t, \\s for a space, \\\\)",
      "http.chat-history=transcript: one message's turn and what ends it, {role} replaced by its role as sent"
          + " (system, user, assistant, tool...) and {content} by its text");
  public static final ConfigKey<String> HTTP_CHAT_ANSWER_CUE = new ConfigKey<>("http.chat-answer-cue",
      dev.cascade.models.openai.ChatTranscript.DEFAULT_ANSWER_CUE, dev.cascade.models.openai.ChatTranscript::unescape,
      s -> true, "text (escapes \\n, \\t, \\s for a space, \\\\)",
      "http.chat-history=transcript: what follows the messages, which the models continue; empty: nothing (for a"
          + " model whose prompt_template already ends its input with the answer's turn marker)");
  /** {@link #FRONT_DOOR_REPLIES}: each front door reads a reply topic of its own. */
  public static final String REPLIES_OWN_TOPIC = "own-topic";
  /** {@link #FRONT_DOOR_REPLIES}: each front door reads the shared responses and dead-letter topics. */
  public static final String REPLIES_SHARED = "shared";
  public static final ConfigKey<String> FRONT_DOOR_REPLIES = new ConfigKey<>("front-door.replies", REPLIES_OWN_TOPIC,
      s -> s, s -> s.equals(REPLIES_OWN_TOPIC) || s.equals(REPLIES_SHARED), "own-topic or shared",
      "how a front door gets its replies: own-topic, it creates a reply topic of its own at start"
          + " (<topic.reply-prefix><instance id>) and reads only that; shared, it reads every partition of"
          + " topic.responses and topic.dead-letters and skips other instances' replies");
  public static final ConfigKey<Boolean> REPLY_TOPIC_REAPER_ENABLED = ConfigKey.bool(
      "front-door.reply-topic-reaper.enabled", true, "front-door.replies=own-topic: this front door deletes the reply"
          + " topics of front doors no longer running (killed, crashed) once front-door.reply-topic-reaper.grace-ms has"
          + " passed; false: it deletes none (its own still at a clean stop)");
  public static final ConfigKey<Integer> REPLY_TOPIC_REAPER_GRACE_MS = ConfigKey.intInRange(
      "front-door.reply-topic-reaper.grace-ms", 600_000, 1_000, Integer.MAX_VALUE, "a reply topic is deleted once,"
          + " at every look for this long, its consumer group has had no member (no front door reads it) and nothing"
          + " was written to it");
  public static final ConfigKey<Integer> REPLY_TOPIC_REAPER_LEGACY_GRACE_MS = ConfigKey.intInRange(
      "front-door.reply-topic-reaper.legacy-grace-ms", 0, 0, Integer.MAX_VALUE, "reply topics of front doors of an"
          + " earlier version (<topic.reply-prefix>front-door-<uuid>, which keep no consumer group) are deleted once"
          + " nothing was written to them at every look for this long; 0: never (set it once no front door of that"
          + " version runs)");
  public static final ConfigKey<Integer> REPLY_TOPIC_REAPER_INTERVAL_MS = ConfigKey.intInRange(
      "front-door.reply-topic-reaper.interval-ms", 60_000, 100, 3_600_000, "how often the reaper looks at the reply"
          + " topics: the first look at start, then every half to one and a half times this (at random)");
  public static final ConfigKey<String> ADMIN_TOKEN = ConfigKey.string("admin.token", "",
      "bearer token PolicyAdmin.UpdatePolicy and PublishRule require; empty: read from admin.token-file");
  public static final ConfigKey<String> ADMIN_TOKEN_FILE = ConfigKey.string("admin.token-file", "",
      "file holding the admin token (e.g. a mounted Secret); when admin.token is empty and the file does not exist,"
          + " serve writes a fresh random token to it (owner-only); empty: <state.dir or temp>/admin-token; a file"
          + " another user owns or group or others may read is refused, but for root's on a read-only mount (SECURITY.md)");
  public static final ConfigKey<String> API_KEYS_FILE = ConfigKey.string("api.keys-file", "",
      "file of API keys ('NAME KEY' per line): Cascade.Generate then requires one (UNAUTHENTICATED otherwise); empty: open");
  public static final ConfigKey<Integer> API_KEYS_RELOAD_MS = ConfigKey.intInRange("api.keys-reload-ms", 10_000, 0,
      3_600_000, "how often the router reads api.keys-file again: a changed, valid file is in force from the next"
          + " call (keys added, removed or replaced, limits changed), an invalid one is logged and the keys before"
          + " stay; 0: read once, at start");
  public static final ConfigKey<RateLimit> API_RATE_LIMIT = new ConfigKey<>("api.rate-limit", "none",
      RateLimit::parse, v -> true, RateLimit.FORMS,
      "generation calls each API key may make, on this router's doors together (e.g. 100/s, 600/min); more are"
          + " refused (gRPC RESOURCE_EXHAUSTED, HTTP 429) until the next window; a key's own limit in api.keys-file"
          + " wins; none: no limit");
  public static final ConfigKey<String> GRPC_TLS_KEY_STORE = ConfigKey.string("grpc.tls.key-store", "",
      "PKCS12 (or .jks) key store with the front door's key and certificate: TLS on the gRPC front door; empty: plaintext");
  public static final ConfigKey<String> GRPC_TLS_KEY_STORE_PASSWORD = ConfigKey.string("grpc.tls.key-store-password", "",
      "password of grpc.tls.key-store");
  public static final ConfigKey<String> GRPC_TLS_CLIENT_TRUST_STORE = ConfigKey.string("grpc.tls.client-trust-store", "",
      "key store of the certificates clients must present (mutual TLS); empty: no client certificate asked");
  public static final ConfigKey<String> GRPC_TLS_CLIENT_TRUST_STORE_PASSWORD = ConfigKey.string(
      "grpc.tls.client-trust-store-password", "", "password of grpc.tls.client-trust-store");
  public static final ConfigKey<String> HTTP_TLS_KEY_STORE = ConfigKey.string("http.tls.key-store", "",
      "PKCS12 (or .jks) key store with the HTTP door's key and certificate: HTTPS on the OpenAI-compatible door;"
          + " empty: plain HTTP");
  public static final ConfigKey<String> HTTP_TLS_KEY_STORE_PASSWORD = ConfigKey.string("http.tls.key-store-password", "",
      "password of http.tls.key-store");
  public static final ConfigKey<String> HTTP_TLS_CLIENT_TRUST_STORE = ConfigKey.string("http.tls.client-trust-store", "",
      "key store of the certificates HTTP clients must present (mutual TLS); empty: no client certificate asked");
  public static final ConfigKey<String> HTTP_TLS_CLIENT_TRUST_STORE_PASSWORD = ConfigKey.string(
      "http.tls.client-trust-store-password", "", "password of http.tls.client-trust-store");
  public static final ConfigKey<String> LARGE_TLS_TRUST_STORE = ConfigKey.string("large.tls.trust-store", "",
      "key store of the certificates the large-model server is trusted by: TLS to it; empty: plaintext");
  public static final ConfigKey<String> LARGE_TLS_TRUST_STORE_PASSWORD = ConfigKey.string("large.tls.trust-store-password",
      "", "password of large.tls.trust-store");
  public static final ConfigKey<String> LARGE_TLS_KEY_STORE = ConfigKey.string("large.tls.key-store", "",
      "key store with the router's client key and certificate, for a large-model server that requires one (mutual TLS)");
  public static final ConfigKey<String> LARGE_TLS_KEY_STORE_PASSWORD = ConfigKey.string("large.tls.key-store-password", "",
      "password of large.tls.key-store");
  public static final ConfigKey<Integer> GRPC_DEFAULT_DEADLINE_MS = ConfigKey.intInRange("grpc.default-deadline-ms", 30_000,
      1, 3_600_000, "how long Cascade.Generate waits for an answer when the call sets no shorter deadline");
  public static final ConfigKey<Integer> FRONT_DOOR_DEADLINE_MARGIN_MS = ConfigKey.intInRange(
      "front-door.deadline-margin-ms", 1_000, 0, 3_600_000, "how long before a door's wait for an answer ends the"
          + " request's deadline_ms falls (at most half the wait), so the router's answer at that deadline (SMALL_DEGRADED"
          + " when the large model has not answered) reaches the caller before the door gives up");
  public static final ConfigKey<Integer> HEALTH_KAFKA_TIMEOUT_MS = ConfigKey.intInRange("health.kafka-timeout-ms", 5_000,
      0, 3_600_000, "serve: once the Kafka cluster has answered none of the router's questions (one a second) for this"
          + " long, health turns NOT_SERVING and the doors refuse new calls (UNAVAILABLE, 503) until it answers; serve and"
          + " learn log the loss once, once a minute while it lasts, and the return; 0: never");
  public static final ConfigKey<Integer> CACHE_MAX_ENTRIES = ConfigKey.intInRange("cache.max-entries", 10_000, 0, 100_000_000,
      "most small-model generations the response cache holds; 0 disables the cache");
  public static final ConfigKey<Integer> CACHE_TTL_MS = ConfigKey.intInRange("cache.ttl-ms", 300_000, 0, Integer.MAX_VALUE,
      "how long a cached generation answers a repeated prompt after it was made; 0 disables the cache");
  public static final ConfigKey<Integer> METRICS_PORT = ConfigKey.intInRange("metrics.port", 0, 0, 65_535,
      "port of the Prometheus endpoint; 0 picks a free one");
  public static final ConfigKey<String> METRICS_HOST = host("metrics.host",
      "the interface the Prometheus endpoint listens on (an IP address, or a name resolved at start); empty: every"
          + " interface");
  public static final ConfigKey<Boolean> METRICS_ENABLED = ConfigKey.bool("metrics.enabled", true,
      "record and serve Prometheus metrics; false turns them off (no endpoint, nothing recorded)");
  public static final ConfigKey<String> STATE_DIR = ConfigKey.string("state.dir", "",
      "Kafka Streams state directory; empty means a fresh temporary directory");

  /** Every key, in documentation order. */
  public static final List<ConfigKey<?>> KEYS = List.of(
      BOOTSTRAP_SERVERS, APPLICATION_ID,
      TOPIC_REQUESTS, TOPIC_RESPONSES, TOPIC_ESCALATIONS, TOPIC_OUTCOMES, TOPIC_FEEDBACK, TOPIC_DEAD_LETTERS, TOPIC_POLICY, TOPIC_RULES,
      TOPIC_REPLY_PREFIX, TOPIC_PARTITIONS, TOPIC_REPLICATION,
      SMALL_MODEL, LARGE_MODEL, ENGINE, MODEL_DECODERS, MODEL_THREADS, MODEL_SPINNING, MODEL_KV_CACHE, MODEL_KV_CACHE_MB, MODEL_DRAFT_WINDOW, LARGE_TARGET, TIERS, LARGE_KSERVE_TEXT_INPUT, LARGE_KSERVE_TEXT_OUTPUT,
      LARGE_KSERVE_MAX_TOKENS_INPUT, LARGE_OPENAI_API_KEY_FILE, LARGE_MAX_NEW_TOKENS, LARGE_PARAMETERS, MAX_NEW_TOKENS, STREAM_THREADS, STREAMS_IDLE_POLL_MS, STREAMS_STARTUP_TIMEOUT_MS, BATCH_SIZE, BATCH_WAIT_MS, BATCH_TIMEOUT_MS, BATCH_IN_FLIGHT,
      EARLY_DEFER, EARLY_DEFER_EVERY, EARLY_DEFER_LABEL_SHARE, EXPIRED_REQUESTS, DEADLINE_GRACE_MS, SHED_SHORT_REQUESTS,
      ESCALATION_MAX_IN_FLIGHT, ESCALATION_DEADLINE_MS, ESCALATION_MAX_WAIT_MS, ESCALATION_FAIL_FAST_WHEN_OPEN,
      ESCALATION_SKIP_UNAVAILABLE_TIERS,
      ESCALATION_RETRIES, ESCALATION_BACKOFF_MS,
      ESCALATION_SPECULATIVE, ESCALATION_EARLY_DEFER, ESCALATION_EARLY_DEFER_LABEL_SHARE, BREAKER_FAILURE_RATE, BREAKER_OPEN_MS,
      POLICY_RULE, POLICY_ALPHA, POLICY_THRESHOLD, POLICY_EXPLORATION, POLICY_TARGET_RATE, POLICY_TARGET_EARLY_DEFER_MARGIN, POLICY_WARM_START, POLICY_FALLBACK_RULE, POLICY_TIER_RULES, POLICY_TIER_TARGET_RATES, POLICY_TIER_EXPLORATION_RATES,
      POLICY_SHADOW_RULES, POLICY_EARLY_DEFER_MARGIN, POLICY_PREGEN_SKIP_RULE, POLICY_PREGEN_SKIP_THRESHOLD,
      LEARN_APPLICATION_ID, LEARN_RULE, LEARN_MAX_EXAMPLES, LEARN_RETRAIN_LABELS, LEARN_RETRAIN_MS, LEARN_MIN_LABELS,
      LEARN_HOLDOUT, LEARN_MIN_HOLDOUT, LEARN_FEEDBACK_WINDOW_MS, LEARN_MAX_WEIGHT, LEARN_HALF_LIFE, LEARN_REFRESH_MARGIN, LEARN_PRIOR, LEARN_RESPECT_PINS, LEARN_FOLDS, LEARN_RESAMPLES,
      LEARN_LEARNERS, LEARN_TIER_ANSWER_VALUE, LEARN_SMALL_ANSWER_VALUE, LEARN_SMALL_MAX_PASS_ON, LEARN_TIER_MAX_PASS_ON, LEARN_TIER_RULES, LEARN_TIER_HALF_LIFE, LEARN_TIER_EVERY_MS, LEARN_TIER_OUTCOMES,
      COST_SMALL, COST_LARGE, COST_TIERS, SCHEMAS_WRITE_VERSIONS, GRPC_PORT, GRPC_HOST, HTTP_ENABLED, HTTP_PORT, HTTP_HOST, HTTP_MAX_IN_FLIGHT,
      HTTP_BODY_TIMEOUT_MS, HTTP_MIN_BODY_RATE, HTTP_MAX_BODY_READS, HTTP_CORS_ALLOWED_ORIGINS, HTTP_CHAT_HISTORY,
      HTTP_CHAT_TURN_FORMAT, HTTP_CHAT_ANSWER_CUE, FRONT_DOOR_REPLIES, REPLY_TOPIC_REAPER_ENABLED,
      REPLY_TOPIC_REAPER_GRACE_MS, REPLY_TOPIC_REAPER_LEGACY_GRACE_MS, REPLY_TOPIC_REAPER_INTERVAL_MS, ADMIN_TOKEN, ADMIN_TOKEN_FILE, API_KEYS_FILE, API_KEYS_RELOAD_MS, API_RATE_LIMIT,
      GRPC_TLS_KEY_STORE, GRPC_TLS_KEY_STORE_PASSWORD,
      GRPC_TLS_CLIENT_TRUST_STORE, GRPC_TLS_CLIENT_TRUST_STORE_PASSWORD, HTTP_TLS_KEY_STORE, HTTP_TLS_KEY_STORE_PASSWORD,
      HTTP_TLS_CLIENT_TRUST_STORE, HTTP_TLS_CLIENT_TRUST_STORE_PASSWORD, LARGE_TLS_TRUST_STORE, LARGE_TLS_TRUST_STORE_PASSWORD,
      LARGE_TLS_KEY_STORE, LARGE_TLS_KEY_STORE_PASSWORD, GRPC_DEFAULT_DEADLINE_MS, FRONT_DOOR_DEADLINE_MARGIN_MS,
      HEALTH_KAFKA_TIMEOUT_MS, CACHE_MAX_ENTRIES, CACHE_TTL_MS,
      METRICS_PORT, METRICS_HOST, METRICS_ENABLED, STATE_DIR);

  private static final String KAFKA_PREFIX = "kafka.";

  /** A key naming an interface to listen on: empty, an IP address (IPv6 with or without brackets) or a host name. */
  private static ConfigKey<String> host(String name, String doc) {
    return new ConfigKey<>(name, "", String::trim, s -> s.isEmpty() || s.matches("\\[?[A-Za-z0-9._:%-]{1,253}]?"),
        "empty, an IP address or a host name", doc);
  }

  /**
   * The interface {@code key} (one of the {@code *.host} keys) names, resolved; null when it is
   * empty (every interface).
   *
   * @throws ConfigException naming the key when the name does not resolve
   */
  public java.net.InetAddress bindAddress(ConfigKey<String> key) {
    String host = get(key);
    if (host.isEmpty()) {
      return null;
    }
    String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    try {
      return java.net.InetAddress.getByName(bare);
    } catch (java.net.UnknownHostException e) {
      throw new ConfigException(key.name(), "'" + host + "' does not resolve to an address: " + e.getMessage());
    }
  }

  /** {@code large.target} as given, once it parses (empty: the embedded server). */
  private static Map<String, Integer> checkedWriteVersions(String text) {
    Map<String, Integer> versions = new java.util.LinkedHashMap<>();
    if (!text.isBlank()) {
      for (String entry : text.split(",")) {
        int eq = entry.indexOf('=');
        String type = eq < 0 ? entry.trim() : entry.substring(0, eq).trim();
        Integer version = null;
        try {
          version = eq < 0 ? null : Integer.valueOf(entry.substring(eq + 1).trim());
        } catch (NumberFormatException e) {
          // said below
        }
        if (version == null) {
          throw new ConfigException("schemas.write-versions", "entry '" + entry.trim() + "' is not TYPE=VERSION"
              + " (e.g. CascadeResponse=6)");
        }
        if (versions.put(type, version) != null) {
          throw new ConfigException("schemas.write-versions", type + " is named twice");
        }
      }
    }
    try {
      dev.cascade.schemas.serde.CascadeSerdes.checkWriteVersions(versions);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("schemas.write-versions", e.getMessage());
    }
    return java.util.Collections.unmodifiableMap(versions);
  }

  private static List<dev.cascade.router.escalation.EscalationTiers.Target> checkedTiers(String text) {
    try {
      return dev.cascade.router.escalation.EscalationTiers.parse(text);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("tiers", e.getMessage());
    }
  }

  private static List<String> tierRuleNames(String text) {
    List<String> names = new java.util.ArrayList<>();
    if (!text.isBlank()) {
      for (String name : text.split(",")) {
        try {
          String canonical = TierPolicy.parse(name.trim() + ":0").ruleName();
          if (!names.contains(canonical)) {
            names.add(canonical);
          }
        } catch (dev.cascade.router.policy.InvalidPolicyException e) {
          throw new ConfigException("learn.tier-rules", "entry " + (names.size() + 1) + " ('" + name.trim() + "'): "
              + e.describedAs(e.field()));
        }
      }
    }
    return List.copyOf(names);
  }

  private static List<TierPolicy> checkedTierRules(String text) {
    List<TierPolicy> rules = new java.util.ArrayList<>();
    if (!text.isBlank()) {
      for (String spec : text.split(",")) {
        try {
          rules.add(TierPolicy.parse(spec.trim()));
        } catch (dev.cascade.router.policy.InvalidPolicyException e) {
          throw new ConfigException("policy.tier-rules", "entry " + (rules.size() + 1) + ": " + e.describedAs(e.field()));
        } catch (IllegalArgumentException e) {
          throw new ConfigException("policy.tier-rules", "entry " + (rules.size() + 1) + ": " + e.getMessage());
        }
      }
    }
    return List.copyOf(rules);
  }

  /** As PolicyAdmin requires of a policy's shadow_rules: each named once, and not too many to score on every request. */
  private static boolean shadowRulesOnce(String text) {
    List<String> rules = text.isBlank() ? List.of() : java.util.Arrays.stream(text.split(",")).map(String::trim).toList();
    return rules.size() <= dev.cascade.router.policy.DeferralPolicy.MAX_SHADOW_RULES
        && new java.util.HashSet<>(rules).size() == rules.size();
  }

  private static List<String> originList(String text) {
    return text.isBlank() ? List.of()
        : java.util.Arrays.stream(text.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  /** {@code *}, or origins as a browser sends them: a scheme, host and optional port, nothing after. */
  private static boolean validOrigins(List<String> origins) {
    return origins.stream().allMatch(o -> o.equals("*")
        || o.matches("[A-Za-z][A-Za-z0-9+.-]*://(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?"));
  }

  /** Largest count {@code large.parameters} takes: a quadrillion, far above any model's. */
  private static final long MAX_PARAMETERS = 1_000_000_000_000_000L;

  /**
   * Parses {@code large.parameters}: counts, comma-separated, each an integer or a number with K,
   * M, B or T (thousand, million, billion, trillion; either case), rounded to a whole count.
   */
  static List<Long> parameterList(String text) {
    List<Long> counts = new java.util.ArrayList<>();
    if (text.isBlank()) {
      return counts;
    }
    for (String entry : text.split(",", -1)) {
      String count = entry.trim();
      int exponent = count.isEmpty() ? 0 : switch (Character.toUpperCase(count.charAt(count.length() - 1))) {
        case 'K' -> 3;
        case 'M' -> 6;
        case 'B' -> 9;
        case 'T' -> 12;
        default -> 0;
      };
      String number = exponent == 0 ? count : count.substring(0, count.length() - 1).trim();
      java.math.BigDecimal value;
      try {
        value = new java.math.BigDecimal(number).scaleByPowerOfTen(exponent)
            .setScale(0, java.math.RoundingMode.HALF_UP);
      } catch (NumberFormatException e) {
        value = null;
      }
      if (value == null || value.signum() < 0 || value.compareTo(java.math.BigDecimal.valueOf(MAX_PARAMETERS)) > 0) {
        throw new ConfigException("large.parameters", "entry " + (counts.size() + 1) + " '" + count + "' is not a count"
            + " of parameters: an integer from 0 to 10^15, or a number with K, M, B or T (7B, 1.5B); 0: not given");
      }
      counts.add(value.longValueExact());
    }
    return List.copyOf(counts);
  }

  private static List<Double> costList(String text) {
    return text.isBlank() ? List.of()
        : java.util.Arrays.stream(text.split(",")).map(String::trim).map(Double::valueOf).toList();
  }

  private static String checkedLargeTarget(String text) {
    if (!text.isEmpty()) {
      dev.cascade.router.escalation.LargeTarget.parse(LARGE_TARGET_NAME, text);
    }
    return text;
  }
  /** The {@code ./cascade} launcher's JVM options: the launcher's, not a configuration key. */
  static final String LAUNCHER_JAVA_OPTS = "CASCADE_JAVA_OPTS";
  /** The {@code ./cascade} launcher's class-data-sharing switch ({@code off}): not a configuration key either. */
  static final String LAUNCHER_CDS = "CASCADE_CDS";
  /**
   * The command-line clients' own secrets ({@code ask}, {@code feedback}, {@code policy}, {@code rules},
   * {@code large-model} read them as option defaults): not configuration keys, so a shell that
   * exports one for a client can still start {@code serve}.
   */
  static final java.util.Set<String> CLIENT_VARIABLES = java.util.Set.of("CASCADE_API_KEY",
      "CASCADE_TLS_KEY_STORE_PASSWORD", "CASCADE_TLS_TRUST_STORE_PASSWORD", "CASCADE_TLS_CLIENT_TRUST_STORE_PASSWORD");
  /**
   * What Kubernetes puts in every pod's environment for each Service of its namespace (unless the
   * pod sets {@code enableServiceLinks: false}): for a Service {@code cascade-router},
   * {@code CASCADE_ROUTER_SERVICE_HOST}, {@code CASCADE_ROUTER_SERVICE_PORT[_NAME]},
   * {@code CASCADE_ROUTER_PORT} and {@code CASCADE_ROUTER_PORT_50051_TCP[_PROTO|_PORT|_ADDR]}. A
   * variable of this shape whose value has the shape Kubernetes gives it ({@link #isServiceLink}) is
   * skipped with a log line instead of refused, even one that is also a key's variable (a Service
   * named {@code cascade-grpc} sets {@code CASCADE_GRPC_PORT=tcp://10.0.0.1:50051}); a typo of a
   * key's variable with a plain value ({@code CASCADE_GPRC_PORT=50051}) is refused as unknown.
   */
  static final java.util.regex.Pattern SERVICE_LINK = java.util.regex.Pattern.compile(
      "CASCADE_[A-Z0-9_]+?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)");
  private static final java.util.regex.Pattern LINK_URL = java.util.regex.Pattern.compile("(tcp|udp|sctp)://\\S+:[0-9]+");
  private static final java.util.regex.Pattern LINK_ADDRESS = java.util.regex.Pattern.compile("[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*");

  /**
   * Whether {@code name=value} is a variable Kubernetes sets for a Service: the name of {@link
   * #SERVICE_LINK}'s shape and the value of the shape Kubernetes gives that name (an address for
   * {@code _SERVICE_HOST} and {@code _ADDR}, a port number for {@code _SERVICE_PORT[_NAME]} and
   * {@code _PORT_N_TCP_PORT}, {@code tcp://ADDRESS:PORT} for {@code _PORT} and {@code _PORT_N_TCP},
   * a protocol for {@code _PROTO}).
   */
  static boolean isServiceLink(String name, String value) {
    java.util.regex.Matcher m = SERVICE_LINK.matcher(name);
    if (!m.matches()) {
      return false;
    }
    String v = value.strip();
    String suffix = m.group(1);
    if (suffix.equals("SERVICE_HOST") || suffix.endsWith("_ADDR")) {
      return LINK_ADDRESS.matcher(v).matches();
    }
    if (suffix.startsWith("SERVICE_PORT") || suffix.matches("PORT_[0-9]+_[A-Z]+_PORT")) {
      return v.matches("[0-9]+");
    }
    if (suffix.endsWith("_PROTO")) {
      return v.matches("(?i)tcp|udp|sctp");
    }
    return LINK_URL.matcher(v).matches(); // _PORT, _PORT_N_TCP
  }
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CascadeConfig.class);

  private final Map<String, Object> values;
  private final Map<String, String> kafkaOverrides;
  /** Where each key's value came from ({@code kafka.*} keys with their prefix), as error messages say it. */
  private final Map<String, String> sources;

  private CascadeConfig(Map<String, Object> values, Map<String, String> kafkaOverrides, Map<String, String> sources) {
    this.values = Collections.unmodifiableMap(values);
    this.kafkaOverrides = Collections.unmodifiableMap(kafkaOverrides);
    this.sources = Collections.unmodifiableMap(sources);
  }

  /** Whether {@code key}'s value was given (a file, a variable, the command line), not a default (built-in or the command's). */
  public boolean given(ConfigKey<?> key) {
    String source = sourceOf(key.name());
    return !source.equals("the default") && !source.equals("the command's defaults");
  }

  /** Where the value of the key named {@code name} came from: "the default", "file F", "the command line", …. */
  public String sourceOf(String name) {
    return sources.getOrDefault(name, "the default");
  }

  /**
   * The error for a value of {@code key} that parses but that a later check refuses (a rule this
   * router does not know, say): as {@link ConfigKey}'s own, the key, the reason and where the value
   * came from.
   */
  public ConfigException invalid(ConfigKey<?> key, String reason) {
    return new ConfigException(key.name(), reason + " (from " + sourceOf(key.name()) + ")");
  }

  /** The defaults alone. */
  public static CascadeConfig defaults() {
    return load(null, Map.of(), Map.of());
  }

  /**
   * Builds the configuration: defaults, then {@code file} (if not null), then the {@code CASCADE_*}
   * entries of {@code env}, then {@code flags} (key to value).
   *
   * @throws ConfigException naming the first bad key
   */
  public static CascadeConfig load(Path file, Map<String, String> env, Map<String, String> flags) {
    return load(Map.of(), file, env, flags);
  }

  /**
   * As {@link #load(Path, Map, Map)}, with a command's own defaults between the built-in defaults
   * and the file: what a command needs different by default, which the user can still override.
   */
  public static CascadeConfig load(Map<String, String> commandDefaults, Path file, Map<String, String> env,
      Map<String, String> flags) {
    Map<String, ConfigKey<?>> byName = new LinkedHashMap<>();
    Map<String, ConfigKey<?>> byEnv = new LinkedHashMap<>();
    for (ConfigKey<?> key : KEYS) {
      byName.put(key.name(), key);
      byEnv.put(key.envName(), key);
    }
    Map<String, String> text = new LinkedHashMap<>();
    Map<String, String> source = new LinkedHashMap<>();
    Map<String, String> kafka = new TreeMap<>();
    for (ConfigKey<?> key : KEYS) {
      if (key.defaultValue() != null) {
        text.put(key.name(), key.defaultValue());
        source.put(key.name(), "the default");
      }
    }
    for (Map.Entry<String, String> e : commandDefaults.entrySet()) {
      put(byName, text, source, kafka, e.getKey(), e.getValue(), "the command's defaults");
    }
    if (file != null) {
      Properties props = new Properties();
      try {
        String content = Files.readString(file);
        // A byte-order mark, as some editors write, would become part of the first key.
        props.load(new java.io.StringReader(content.startsWith("\uFEFF") ? content.substring(1) : content));
      } catch (java.nio.file.NoSuchFileException e) {
        throw new ConfigException("--config", file + ": no such file");
      } catch (java.nio.charset.CharacterCodingException e) {
        throw new ConfigException("--config", file + ": not UTF-8 text");
      } catch (IOException e) {
        throw new ConfigException("--config", "cannot read " + file + ": " + e.getMessage());
      }
      for (String name : new TreeMap<>(toMap(props)).keySet()) {
        put(byName, text, source, kafka, name, props.getProperty(name), "file " + file);
      }
    }
    List<String> serviceLinks = new java.util.ArrayList<>();
    for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
      if (!e.getKey().startsWith("CASCADE_") || e.getKey().equals(LAUNCHER_JAVA_OPTS)
          || e.getKey().equals(LAUNCHER_CDS) || CLIENT_VARIABLES.contains(e.getKey())) {
        continue;
      }
      ConfigKey<?> key = byEnv.get(e.getKey());
      if (isServiceLink(e.getKey(), e.getValue())) {
        serviceLinks.add(e.getKey());
        continue;
      }
      if (key == null) {
        // Compared as keys with '_' for '.' and '-': CASCADE_POLICY_TRESHOLD is policy.treshold.
        Map<String, ConfigKey<?>> byUnderscored = new TreeMap<>();
        byName.values().forEach(k -> byUnderscored.put(k.name().replace('.', '_').replace('-', '_'), k));
        String hint = KeySuggestion.nearest(e.getKey().substring("CASCADE_".length()).toLowerCase(java.util.Locale.ROOT),
            byUnderscored.keySet(), '_').map(k -> "; did you mean " + byUnderscored.get(k).envName() + " ("
                + byUnderscored.get(k).name() + ")?").orElse("");
        throw new ConfigException(e.getKey(), "unknown environment variable" + hint + " (known ones are CASCADE_ + a key "
            + "upper-cased with '.' and '-' as '_', e.g. " + BOOTSTRAP_SERVERS.envName() + ")");
      }
      text.put(key.name(), e.getValue());
      source.put(key.name(), "environment variable " + e.getKey());
    }
    if (!serviceLinks.isEmpty()) {
      LOG.info("skipped {} environment variables shaped as Kubernetes service links, not configuration keys: {}",
          serviceLinks.size(), serviceLinks);
    }
    for (Map.Entry<String, String> e : flags.entrySet()) {
      put(byName, text, source, kafka, e.getKey(), e.getValue(), "the command line");
    }
    Map<String, Object> values = new LinkedHashMap<>();
    for (ConfigKey<?> key : KEYS) {
      String t = text.get(key.name());
      if (t != null) {
        values.put(key.name(), key.parse(t, source.get(key.name())));
      }
    }
    KafkaSettings.check(kafka, name -> source.get(KAFKA_PREFIX + name));
    return new CascadeConfig(values, kafka, source);
  }

  private static void put(Map<String, ConfigKey<?>> byName, Map<String, String> text, Map<String, String> source,
      Map<String, String> kafka, String name, String value, String from) {
    if (name.startsWith(KAFKA_PREFIX) && name.length() > KAFKA_PREFIX.length()) {
      kafka.put(name.substring(KAFKA_PREFIX.length()), value);
      source.put(name, from);
      return;
    }
    if (!byName.containsKey(name) && KafkaSettings.isClientSetting(name)) {
      throw new ConfigException(name, "unknown key in " + from + "; a Kafka client setting is given with the prefix"
          + " kafka.: did you mean " + KAFKA_PREFIX + name + "?");
    }
    if (!byName.containsKey(name)) {
      java.util.Optional<String> meant = KeySuggestion.nearest(name, byName.keySet());
      if (meant.isPresent()) {
        throw new ConfigException(name, "unknown key in " + from + "; did you mean " + meant.get() + "?");
      }
      // The keys of the same group (learn.*, policy.*, ...) where there are any, else all of them.
      String group = name.contains(".") ? name.substring(0, name.indexOf('.') + 1) : "";
      List<String> near = byName.keySet().stream().filter(k -> !group.isEmpty() && k.startsWith(group)).toList();
      throw new ConfigException(name, "unknown key in " + from + " (" + (near.isEmpty()
          ? "known keys: " + String.join(", ", byName.keySet()) + ", and kafka.* for Kafka client settings"
          : "the " + group + "* keys: " + String.join(", ", near)) + ")");
    }
    text.put(name, value);
    source.put(name, from);
  }

  private static Map<String, String> toMap(Properties props) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String n : props.stringPropertyNames()) {
      m.put(n, props.getProperty(n));
    }
    return m;
  }

  /** The value of {@code key}. */
  @SuppressWarnings("unchecked")
  public <T> T get(ConfigKey<T> key) {
    Object v = values.get(key.name());
    if (v == null) {
      throw new ConfigException(key.name(), "is not set");
    }
    return (T) v;
  }

  /** A copy with {@code key} set to {@code value} (validated). */
  public CascadeConfig with(ConfigKey<?> key, String value) {
    Map<String, Object> copy = new LinkedHashMap<>(values);
    copy.put(key.name(), key.parse(value, "an override"));
    Map<String, String> from = new LinkedHashMap<>(sources);
    from.put(key.name(), "an override");
    return new CascadeConfig(copy, kafkaOverrides, from);
  }

  /** Kafka client settings from {@code kafka.*} keys, prefix removed. */
  public Map<String, String> kafkaOverrides() {
    return kafkaOverrides;
  }

  /** How the in-process models use the CPU ({@code model.decoders}, {@code model.threads}, {@code model.spinning}). */
  public CpuThreads cpuThreads() {
    int threads = get(MODEL_THREADS);
    if (threads == AUTO_THREADS) {
      threads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    }
    return new CpuThreads(get(MODEL_DECODERS), threads, get(MODEL_SPINNING));
  }

  /** How many draft tokens a model checks per pass ({@link #MODEL_DRAFT_WINDOW}). */
  public dev.cascade.models.DraftWindow draftWindow() {
    return get(MODEL_DRAFT_WINDOW);
  }

  /**
   * How an in-process model is loaded: {@link dev.cascade.models.LoadOptions#DEFAULT}'s rows per
   * pass, with this configuration's threads, key/value cache and draft window.
   */
  public dev.cascade.models.LoadOptions loadOptions() {
    return dev.cascade.models.LoadOptions.DEFAULT.withThreads(cpuThreads()).withCache(cacheSettings())
        .withDraftWindow(draftWindow());
  }

  /** The in-process models' key/value cache ({@code model.kv-cache}, {@code model.kv-cache-mb}). */
  public CacheSettings cacheSettings() {
    return get(MODEL_KV_CACHE) ? CacheSettings.megabytes(get(MODEL_KV_CACHE_MB)) : CacheSettings.DISABLED;
  }

  /**
   * This configuration for another application on the same brokers: {@code applicationId}, and
   * every topic named {@code topicPrefix} + "." + its role ({@code requests}, {@code responses},
   * …), so that no record of one is read by the other.
   */
  public CascadeConfig withOwnTopics(String applicationId, String topicPrefix) {
    return with(APPLICATION_ID, applicationId)
        .with(TOPIC_REQUESTS, topicPrefix + ".requests")
        .with(TOPIC_RESPONSES, topicPrefix + ".responses")
        .with(TOPIC_ESCALATIONS, topicPrefix + ".escalations")
        .with(TOPIC_OUTCOMES, topicPrefix + ".outcomes")
        .with(TOPIC_FEEDBACK, topicPrefix + ".feedback")
        .with(TOPIC_DEAD_LETTERS, topicPrefix + ".dead-letters")
        .with(TOPIC_POLICY, topicPrefix + ".policy")
        .with(TOPIC_RULES, topicPrefix + ".rules");
  }

  /** The topic names in force. */
  public TopicNames topics() {
    return new TopicNames(get(TOPIC_REQUESTS), get(TOPIC_RESPONSES), get(TOPIC_ESCALATIONS), get(TOPIC_OUTCOMES),
        get(TOPIC_FEEDBACK), get(TOPIC_DEAD_LETTERS), get(TOPIC_POLICY), get(TOPIC_RULES));
  }

  /**
   * The prefix of the front doors' reply topics: {@code topic.reply-prefix}, or when that is empty
   * {@code topic.responses} followed by a dot.
   *
   * @throws ConfigException when the derived prefix is too long for a topic name
   */
  public String replyTopicPrefix() {
    String prefix = get(TOPIC_REPLY_PREFIX);
    if (!prefix.isEmpty()) {
      return prefix;
    }
    prefix = get(TOPIC_RESPONSES) + ".";
    if (!prefix.matches("[A-Za-z0-9._-]{1,200}")) {
      throw new ConfigException(TOPIC_REPLY_PREFIX.name(), "is empty, and topic.responses + '.' ('" + prefix
          + "') cannot prefix a reply topic (at most 200 of a-z A-Z 0-9 . _ -): set " + TOPIC_REPLY_PREFIX.name());
    }
    return prefix;
  }

  /**
   * Every key and its value, for logging, with secrets masked as {@code ****}: the admin token,
   * every key ending in {@code password}; of the {@code kafka.*} keys, every one whose name speaks
   * of a password, secret, token, credential, JAAS configuration or user info, and inline key
   * material ({@code ssl.keystore.key}: a PEM private key); and in any value, the user and
   * password of a URL ({@code scheme://user:password@host}). Files named for secrets (key stores,
   * {@code admin.token-file}, {@code api.keys-file}, {@code large.openai.api-key-file}) show their
   * paths: a path is not the secret. An optional value is shown as it is written: {@code off} when
   * it is not set, else the value; {@code model.threads} as {@code auto} where it is.
   */
  public Map<String, String> describe() {
    Map<String, String> out = new LinkedHashMap<>();
    values.forEach((k, v) -> out.put(k, (k.equals(ADMIN_TOKEN.name()) || k.endsWith("password"))
        && !String.valueOf(v).isEmpty() ? MASK
        : k.equals(MODEL_THREADS.name()) && v.equals(AUTO_THREADS) ? "auto" : withoutUserInfo(shown(v))));
    kafkaOverrides.forEach((k, v) -> out.put(KAFKA_PREFIX + k, isKafkaSecret(k) ? MASK : withoutUserInfo(v)));
    return out;
  }

  private static final String MASK = "****";

  /** A value as it is written: an optional one as {@link #UNSET} or its value, not {@code OptionalDouble.empty}. */
  static String shown(Object value) {
    if (value instanceof java.util.OptionalDouble d) {
      return d.isPresent() ? Double.toString(d.getAsDouble()) : UNSET;
    }
    if (value instanceof java.util.OptionalInt i) {
      return i.isPresent() ? Integer.toString(i.getAsInt()) : UNSET;
    }
    if (value instanceof java.util.OptionalLong l) {
      return l.isPresent() ? Long.toString(l.getAsLong()) : UNSET;
    }
    if (value instanceof java.util.Optional<?> o) {
      return o.map(String::valueOf).orElse(UNSET);
    }
    return String.valueOf(value);
  }
  private static final java.util.regex.Pattern USER_INFO = java.util.regex.Pattern.compile("://[^/@\\s]+@");

  /** Whether a Kafka client setting holds a secret (by its name: Kafka has no list of them). */
  static boolean isKafkaSecret(String name) {
    String n = name.toLowerCase(java.util.Locale.ROOT);
    return n.contains("password") || n.contains("jaas") || n.contains("secret") || n.contains("token")
        || n.contains("credential") || n.contains("user.info") || n.endsWith(".key") || n.contains("private");
  }

  private static String withoutUserInfo(String value) {
    return USER_INFO.matcher(value).replaceAll("://" + MASK + "@");
  }

  @Override
  public String toString() {
    return "CascadeConfig" + describe();
  }
}
