package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class TokenDistributionTest {

  @Test
  void uniformLogitsHaveMaximumEntropyAndPickTheFirstToken() {
    TokenDistribution.Choice c = TokenDistribution.greedy(new float[] {9, 2, 2, 2, 2, 9}, 1, 4);
    assertThat(c.token()).isZero();
    assertThat(c.logprob()).isCloseTo((float) -Math.log(4), within(1e-6f));
    assertThat(c.entropy()).isCloseTo((float) Math.log(4), within(1e-6f));
  }

  @Test
  void matchesTheDefinitionOnASkewedDistribution() {
    float[] logits = {1f, 3f, -2f, 0.5f};
    double z = 0;
    for (float l : logits) {
      z += Math.exp(l);
    }
    double entropy = 0;
    for (float l : logits) {
      double p = Math.exp(l) / z;
      entropy -= p * Math.log(p);
    }
    TokenDistribution.Choice c = TokenDistribution.greedy(logits, 0, 4);
    assertThat(c.token()).isEqualTo(1);
    assertThat((double) c.logprob()).isCloseTo(3 - Math.log(z), within(1e-6));
    assertThat((double) c.entropy()).isCloseTo(entropy, within(1e-6));
  }

  @Test
  void aCertainStepHasZeroEntropyAndLogprob() {
    TokenDistribution.Choice c = TokenDistribution.greedy(new float[] {0f, 1e4f, 0f}, 0, 3);
    assertThat(c.logprob()).isZero();
    assertThat(c.entropy()).isZero();
  }
}
