package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The line a learner logs after each rebalance: what it reads, and whether it trains. */
class AssignmentLineTest {

  @Test
  void namesEachTopicsPartitionsAndWhereTheTrainerRuns() {
    String examples = LearnerTopology.examplesTopic("cascade-learner");
    assertThat(ContinuousLearner.assignmentLine("cascade-learner", List.of(new TopicPartition("cascade.outcomes", 3),
        new TopicPartition("cascade.feedback", 1), new TopicPartition("cascade.outcomes", 1),
        new TopicPartition(examples, 0)), examples))
        .isEqualTo("learner cascade-learner: assigned " + examples + " [0], cascade.feedback [1], cascade.outcomes [1,"
            + " 3]; the trainer runs here");
    assertThat(ContinuousLearner.assignmentLine("cascade-learner", List.of(new TopicPartition("cascade.feedback", 0)),
        examples)).isEqualTo("learner cascade-learner: assigned cascade.feedback [0]; the trainer runs on another"
            + " instance with this application id, if any");
    assertThat(ContinuousLearner.assignmentLine("cascade-learner", List.of(), examples))
        .startsWith("learner cascade-learner: assigned no partition;");
  }
}
