package dev.cascade.router.topology;

import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.util.Optional;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Decodes and checks each request. A record that cannot be decoded, or whose request is invalid,
 * goes to the dead-letter sink with its original bytes and the reason; processing goes on. A
 * valid request goes on to the small model, keyed by its request id.
 */
final class ValidateProcessor implements Processor<byte[], byte[], Object, Object> {

  private final Deserializer<CascadeRequest> deserializer;
  private final RequestValidator validator;
  private final String topic;
  private ProcessorContext<Object, Object> context;

  ValidateProcessor(Deserializer<CascadeRequest> deserializer, RequestValidator validator, String topic) {
    this.deserializer = deserializer;
    this.validator = validator;
    this.topic = topic;
  }

  @Override
  public void init(ProcessorContext<Object, Object> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    CascadeRequest request;
    try {
      request = deserializer.deserialize(topic, record.value());
    } catch (SchemaDecodingException e) {
      deadLetter(record, "deserialize", e, e.getMessage());
      return;
    }
    if (request == null) {
      deadLetter(record, "deserialize", null, "value: null (a tombstone is not a request)");
      return;
    }
    Optional<String> problem;
    try {
      problem = validator.problem(request);
    } catch (RuntimeException e) {
      problem = Optional.of("prompt: cannot be checked: " + e.getMessage());
    }
    if (problem.isPresent()) {
      deadLetter(record, "validate", null, problem.get());
      return;
    }
    context.forward(new Record<>((Object) request.getRequestId(), (Object) request, context.currentSystemTimeMs(),
        record.headers()), CascadeTopology.SMALL_MODEL);
  }

  private void deadLetter(Record<byte[], byte[]> record, String stage, Throwable error, String reason) {
    context.forward(new Record<>((Object) record.key(), (Object) DeadLetters.of(context, record, stage, error, reason),
        record.timestamp()), CascadeTopology.DEAD_LETTER_SINK);
  }
}
