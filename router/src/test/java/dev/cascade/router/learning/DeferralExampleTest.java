package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.features.UncertaintyFeatures;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DeferralExampleTest {

  private static final UncertaintyFeatures FEATURES =
      SyntheticExamples.randomFeatures(new SplittableRandom(1));

  @Test
  void theLabelIsTheBenefitOfDeferringNotTheSmallModelsError() {
    assertThat(new DeferralExample(FEATURES, null, false, true).benefit()).isTrue();
    assertThat(new DeferralExample(FEATURES, null, false, false).benefit()).isFalse();
    assertThat(new DeferralExample(FEATURES, null, true, true).benefit()).isFalse();
    assertThat(new DeferralExample(FEATURES, null, true, false).benefit()).isFalse();
  }
}
