package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.apache.kafka.streams.processor.TaskId;
import org.apache.kafka.streams.processor.api.Record;
import org.junit.jupiter.api.Test;

class StreamErrorHandlersTest {

  /** The input that was being processed: a request at cascade.requests-1@42. */
  private static final ErrorHandlerContext CONTEXT = new ErrorHandlerContext() {
    @Override
    public String topic() {
      return "cascade.requests";
    }

    @Override
    public int partition() {
      return 1;
    }

    @Override
    public long offset() {
      return 42;
    }

    @Override
    public Headers headers() {
      return new RecordHeaders();
    }

    @Override
    public String processorNodeId() {
      return "small-model";
    }

    @Override
    public TaskId taskId() {
      return new TaskId(0, 1);
    }

    @Override
    public long timestamp() {
      return 7;
    }

    @Override
    public byte[] sourceRawKey() {
      return "req-1".getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public byte[] sourceRawValue() {
      return new byte[] {1, 2, 3};
    }
  };

  @Test
  void anOutputTooLargeForTheBrokerIsDeadLetteredCutAndProcessingGoesOn() {
    StreamErrorHandlers.Production handler = new StreamErrorHandlers.Production();
    handler.configure(Map.of(StreamErrorHandlers.DEAD_LETTERS_TOPIC, "my.dead-letters"));
    byte[] huge = new byte[2_000_000];
    ProducerRecord<byte[], byte[]> outcome = new ProducerRecord<>("cascade.outcomes", "req-1".getBytes(), huge);
    ProductionExceptionHandler.Response response = handler.handleError(CONTEXT, outcome,
        new RecordTooLargeException("The message is 2000100 bytes"));
    assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.RESUME);
    assertThat(response.deadLetterQueueRecords()).singleElement().satisfies(r -> {
      assertThat(r.topic()).isEqualTo("my.dead-letters");
      DeadLetter letter = CascadeSerdes.deadLetters().decode(r.value());
      assertThat(letter.getValue().remaining()).isEqualTo(StreamErrorHandlers.MAX_PAYLOAD);
      assertThat(letter.getReason()).contains("cascade.outcomes").contains("2000000 bytes").contains("cut");
      assertThat(letter.getStage()).isEqualTo("produce");
      assertThat(letter.getTopic()).isEqualTo("cascade.requests");
      assertThat(letter.getOffset()).isEqualTo(42);
      assertThat(r.value().length).isLessThan(StreamErrorHandlers.MAX_PAYLOAD + 2_048);
    });
    // Anything else still fails the task, as Kafka Streams' default does.
    assertThat(handler.handleError(CONTEXT, outcome, new TimeoutException("slow")).result())
        .isEqualTo(ProductionExceptionHandler.Result.FAIL);
  }

  @Test
  void aReplyThatFailsRetriablyRetriesTheTaskAndTheNextWriteAsksWhetherTheReplyTopicIsStillThere() {
    java.util.Set<String> existing = new java.util.HashSet<>(java.util.Set.of("cascade.responses.front-door-m-1"));
    java.util.List<String> asked = new java.util.ArrayList<>();
    ReplyTopics replies = ReplyTopics.of("cascade.responses", "cascade.responses.", java.util.Set.of(), topic -> {
      asked.add(topic);
      return existing.contains(topic);
    }, () -> 0L);
    StreamErrorHandlers.Production handler = new StreamErrorHandlers.Production();
    handler.configure(Map.of(StreamErrorHandlers.DEAD_LETTERS_TOPIC, "my.dead-letters",
        StreamErrorHandlers.REPLY_TOPICS, replies));
    assertThat(replies.responsesTopic("front-door-m-1")).isEqualTo("cascade.responses.front-door-m-1");
    existing.clear(); // deleted by a reaper

    ProducerRecord<byte[], byte[]> reply = new ProducerRecord<>("cascade.responses.front-door-m-1", new byte[1],
        new byte[1]);
    ProductionExceptionHandler.Response response = handler.handleError(CONTEXT, reply,
        new TimeoutException("Topic cascade.responses.front-door-m-1 not present in metadata after 60000 ms."));

    assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.RETRY);
    assertThat(response.deadLetterQueueRecords()).isEmpty();
    // The input processed again: its reply goes to the shared topic, the broker asked first.
    assertThat(replies.responsesTopic("front-door-m-1")).isEqualTo("cascade.responses");
    assertThat(asked).hasSize(2);
    // A retriable failure of any other output still fails the task.
    assertThat(handler.handleError(CONTEXT, new ProducerRecord<>("cascade.outcomes", new byte[1], new byte[1]),
        new TimeoutException("slow")).result()).isEqualTo(ProductionExceptionHandler.Result.FAIL);
  }

  @Test
  void aProcessorThatThrowsDeadLettersItsInput() {
    StreamErrorHandlers.Processing handler = new StreamErrorHandlers.Processing();
    handler.configure(Map.of(StreamErrorHandlers.DEAD_LETTERS_TOPIC, "my.dead-letters"));
    ProcessingExceptionHandler.Response response = handler.handleError(CONTEXT, new Record<>("k", "v", 7),
        new IllegalStateException("boom"));
    assertThat(response.result()).isEqualTo(ProcessingExceptionHandler.Result.RESUME);
    DeadLetter letter = CascadeSerdes.deadLetters().decode(response.deadLetterQueueRecords().get(0).value());
    assertThat(letter.getReason()).contains("small-model").contains("boom");
    assertThat(letter.getStage()).isEqualTo("processing");
    assertThat(letter.getValue().array()).containsExactly(1, 2, 3);
    assertThat(new String(letter.getKey().array(), StandardCharsets.UTF_8)).isEqualTo("req-1");
  }
}
