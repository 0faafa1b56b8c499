package dev.cascade.router.learner;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import dev.cascade.router.learning.AnsweredItem;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.PromptItem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The learner's prior ({@code learn.prior}): an operator's labelled prompts, answered once at start
 * by both models, as training examples the learner holds beside its traffic.
 *
 * <p>A learner that starts from nothing learns a new kind of traffic from the few hundred examples
 * of it the stream has given so far, and a rule trained on so few is well short of one trained
 * offline on thousands. With a prior (the labelled data the shipped rules were trained on, say) a
 * challenger starts from what is already known and the traffic corrects it: the prior trains every
 * round as if it were older than all the traffic, is never held out (challengers are still judged
 * on the newest traffic alone), and its weight halves for every {@code learn.half-life-labels}
 * examples of traffic the learner holds.
 *
 * <p>Every prior example is fully labelled: both models answer it, and the reference says which was
 * right. So the small and the large model must both be loadable here ({@code small.model}, {@code
 * large.model}: a bundled name or a directory in the standard layout), as for {@code train-rule
 * --data}; a large model reached only over the network cannot answer a prior. The answers are
 * cached ({@code ~/.cache/cascade/generations}), so a restart does not generate them again. The
 * small model must be the routers' ({@code small.model} also fingerprints the learner's rules), and
 * the token limit theirs ({@code generation.max-new-tokens}), or the prior's features would come
 * from other generations than the traffic's.
 */
public final class LearnerPrior {

  /** Label source of prior examples, in a round's sources and a rule's {@code labels_prior} metric. */
  public static final String SOURCE = "prior";

  private static final Logger LOG = LoggerFactory.getLogger(LearnerPrior.class);

  private LearnerPrior() {}

  /**
   * The prior that {@code learn.prior} names, answered by both models; empty when the key is empty.
   *
   * @throws ConfigException naming {@code learn.prior} when the file cannot be read, is not labelled
   *     JSONL, or a model cannot answer it
   */
  public static List<DeferralExample> load(CascadeConfig config) {
    String file = config.get(CascadeConfig.LEARN_PRIOR);
    if (file.isBlank()) {
      return List.of();
    }
    Path path = Path.of(file);
    if (!Files.isRegularFile(path)) {
      throw new ConfigException(CascadeConfig.LEARN_PRIOR.name(), "'" + file + "' is not a file");
    }
    CascadeAnswers.Settings settings = CascadeAnswers.Settings.configured(config);
    long started = System.nanoTime();
    List<AnsweredItem> answered;
    try {
      List<PromptItem> items = PromptItem.readJsonl(path);
      LOG.info("learner prior: answering the {} prompts of {} with the small model {} and the large model {}"
          + " (cached in {} for the next start) ...", items.size(), path, settings.smallModel(), settings.largeModel(),
          settings.cacheDir());
      answered = CascadeAnswers.answer(items, settings, CascadeAnswers.Progress.NONE);
    } catch (IOException | RuntimeException e) {
      throw new ConfigException(CascadeConfig.LEARN_PRIOR.name(), "cannot use '" + file + "' as the learner's prior: "
          + e.getMessage());
    }
    List<DeferralExample> prior = examples(answered);
    long smallRight = prior.stream().filter(DeferralExample::smallCorrect).count();
    long benefit = prior.stream().filter(DeferralExample::benefit).count();
    LOG.info(String.format(Locale.ROOT, "learner prior: %d labelled examples from %s in %.1f s (the small model right"
        + " on %.1f%%, deferring helps on %.1f%%); trained on in every round, weight halving every %s examples of"
        + " traffic", prior.size(), path, (System.nanoTime() - started) / 1e9, 100.0 * smallRight / prior.size(),
        100.0 * benefit / prior.size(), config.get(CascadeConfig.LEARN_HALF_LIFE) > 0
            ? String.format(Locale.ROOT, "%.0f", config.get(CascadeConfig.LEARN_HALF_LIFE)) : "(never: learn.half-life-labels 0)"));
    return prior;
  }

  /** Both models' answers as prior examples: weight 1, fully labelled, label source {@link #SOURCE}. */
  public static List<DeferralExample> examples(List<AnsweredItem> answered) {
    List<DeferralExample> out = new ArrayList<>(answered.size());
    for (AnsweredItem a : answered) {
      DeferralExample e = a.example();
      out.add(new DeferralExample(e.features(), e.embedding(), e.smallCorrect(), e.largeCorrect(), 1.0, SOURCE,
          e.promptHash()));
    }
    return out;
  }
}
