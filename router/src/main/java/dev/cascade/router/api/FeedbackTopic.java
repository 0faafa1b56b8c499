package dev.cascade.router.api;

import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Where the doors write feedback: the feedback topic ({@code topic.feedback}), one {@link Feedback}
 * record keyed by request id, which {@code cascade learn} joins with that request's outcome.
 */
final class FeedbackTopic {

  /** The longest {@code corrected_text} the doors take. */
  static final int MAX_CORRECTED_TEXT_LENGTH = 4096;
  /** The longest {@code source}. */
  static final int MAX_SOURCE_LENGTH = 128;

  /** Writes one record; completes with where it was written, or exceptionally. */
  interface Sink extends AutoCloseable {
    CompletableFuture<Written> send(Feedback feedback);

    @Override
    default void close() {}
  }

  /** Where a record went. */
  record Written(String topic, int partition, long offset) {}

  private FeedbackTopic() {}

  /** A sink on Kafka: idempotent, {@code acks=all}. */
  static Sink kafka(Map<String, Object> clientProps, String topic) {
    Map<String, Object> props = new HashMap<>(clientProps);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "front-door-feedback-" + java.util.UUID.randomUUID());
    KafkaProducer<String, Feedback> producer = new KafkaProducer<>(props, new StringSerializer(),
        CascadeSerdes.feedback().serializer());
    return new Sink() {
      @Override
      public CompletableFuture<Written> send(Feedback feedback) {
        CompletableFuture<Written> done = new CompletableFuture<>();
        try {
          producer.send(new ProducerRecord<>(topic, feedback.getRequestId(), feedback), (RecordMetadata m, Exception e) -> {
            if (e != null) {
              done.completeExceptionally(e);
            } else {
              done.complete(new Written(m.topic(), m.partition(), m.offset()));
            }
          });
        } catch (RuntimeException e) {
          done.completeExceptionally(e);
        }
        return done;
      }

      @Override
      public void close() {
        producer.close(Duration.ofSeconds(5));
      }
    };
  }

  /** The record for a call the doors accepted ({@link #problem} empty); {@code source} empty or null: {@code door}. */
  static Feedback record(String requestId, Boolean correct, String correctedText, String source, String door) {
    return Feedback.newBuilder()
        .setRequestId(requestId)
        .setCorrect(correct)
        .setCorrectedText(correctedText)
        .setSource(source == null || source.isEmpty() ? door : source)
        .setCreatedAtMs(System.currentTimeMillis())
        .build();
  }

  /**
   * Empty when the feedback can be recorded; otherwise what is wrong with it, naming the field.
   *
   * @param idField what the door calls the request id, for messages ({@code request_id}, {@code id})
   * @param hasCorrect whether the call said whether the answer was right
   * @param correctedText the right answer, or null
   */
  static Optional<String> problem(String requestId, String idField, boolean hasCorrect, String correctedText,
      String source) {
    if (requestId == null || requestId.isBlank()) {
      return Optional.of(idField + ": must not be empty (the id of the request whose answer is judged)");
    }
    Optional<String> idProblem = RequestValidator.requestIdProblem(requestId, idField);
    if (idProblem.isPresent()) {
      return idProblem;
    }
    if (!hasCorrect && correctedText == null) {
      return Optional.of("correct, corrected_text: give at least one (whether the served answer was right, or the"
          + " right answer)");
    }
    if (correctedText != null && correctedText.isBlank()) {
      return Optional.of("corrected_text: must not be blank when given");
    }
    if (correctedText != null && correctedText.length() > MAX_CORRECTED_TEXT_LENGTH) {
      return Optional.of("corrected_text: longer than " + MAX_CORRECTED_TEXT_LENGTH + " characters ("
          + correctedText.length() + ")");
    }
    if (source != null && source.length() > MAX_SOURCE_LENGTH) {
      return Optional.of("source: longer than " + MAX_SOURCE_LENGTH + " characters (" + source.length() + ")");
    }
    return Optional.empty();
  }
}
