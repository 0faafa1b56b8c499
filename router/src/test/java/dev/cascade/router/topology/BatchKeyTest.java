package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BatchKeyTest {

  @Test
  void isTheZeroPaddedFormOfArrivalTimeAndSequence() {
    SplittableRandom random = new SplittableRandom(3);
    List<long[]> cases = new ArrayList<>(List.of(new long[] {0, 0}, new long[] {1_796_060_171_000L, 7},
        new long[] {9_999_999_999_999L, 999_999_999_999L}, new long[] {42, 123_456_789_012L}));
    for (int i = 0; i < 1_000; i++) {
      cases.add(new long[] {random.nextLong(0, 10_000_000_000_000L), random.nextLong(0, 1_000_000_000_000L)});
    }
    for (long[] c : cases) {
      assertThat(MicroBatchProcessor.batchKey(c[0], c[1])).isEqualTo(String.format("%013d-%012d", c[0], c[1]));
    }
  }

  @Test
  void sortsInArrivalOrder() {
    assertThat(MicroBatchProcessor.batchKey(999, 5)).isLessThan(MicroBatchProcessor.batchKey(1_000, 0));
    assertThat(MicroBatchProcessor.batchKey(1_000, 9)).isLessThan(MicroBatchProcessor.batchKey(1_000, 10));
  }
}
