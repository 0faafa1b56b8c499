// Measures how well a threshold calibrated on a learned rule's artifact holds on new data: for each
// shipped rule and target escalation fraction, the threshold from the artifact's out-of-fold
// calibration scores (ThresholdCalibration.fromArtifact) against the threshold from the shipped
// rule's own scores on its training data (the leaky way), and the fraction each defers on the
// validation split (the training data) and on the test split (new data).
//
//   ./mvnw -B -q -pl router -am package -DskipTests
//   java -cp router/target/cascade.jar router/scripts/CalibrationCheck.java \
//       models/src/main/resources/cascade/models/small models/src/main/resources/cascade/models/large \
//       router/target/eval/cache
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.learning.AnsweredItem;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.policy.ThresholdCalibrator;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

public class CalibrationCheck {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: java -cp router/target/cascade.jar router/scripts/CalibrationCheck.java SMALL_DIR"
          + " LARGE_DIR CACHE_DIR");
      System.exit(2);
    }
    CascadeAnswers.Settings settings = new CascadeAnswers.Settings(args[0], args[1], "auto", 0, 256, Path.of(args[2]));
    List<DeferralExample> validation = examples("models/data/validation.jsonl", settings);
    List<DeferralExample> test = examples("models/data/test.jsonl", settings);
    System.out.println("rule              target  out-of-fold: threshold  validation  test"
        + "  |  in-sample: threshold  validation  test");
    for (LearnedRule rule : LearnedRules.bundledRules()) {
      double[] onValidation = scores(rule, validation);
      double[] onTest = scores(rule, test);
      for (double target : new double[] {0.1, 0.2, 0.3, 0.5}) {
        double fromArtifact = ThresholdCalibration.fromArtifact(rule, target).orElseThrow();
        double inSample = ThresholdCalibrator.threshold(onValidation, target);
        System.out.printf(Locale.ROOT, "%-17s %5.0f%%  %20.4f  %9.2f%%  %5.2f%%  |  %18.4f  %9.2f%%  %5.2f%%%n",
            rule.name(), 100 * target, fromArtifact, 100 * above(onValidation, fromArtifact),
            100 * above(onTest, fromArtifact), inSample, 100 * above(onValidation, inSample),
            100 * above(onTest, inSample));
      }
    }
  }

  static List<DeferralExample> examples(String file, CascadeAnswers.Settings settings) throws Exception {
    List<AnsweredItem> answered = CascadeAnswers.answer(PromptItem.readJsonl(Path.of(file)), settings,
        CascadeAnswers.Progress.NONE);
    return answered.stream().map(AnsweredItem::example).toList();
  }

  static double[] scores(LearnedRule rule, List<DeferralExample> examples) {
    return rule.scores(examples.stream().map(DeferralExample::features).toList(),
        examples.stream().map(DeferralExample::embedding).toList());
  }

  static double above(double[] scores, double threshold) {
    return Arrays.stream(scores).filter(s -> s > threshold).count() / (double) scores.length;
  }
}
