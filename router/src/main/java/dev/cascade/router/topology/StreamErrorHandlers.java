package dev.cascade.router.topology;

import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka Streams' exception handlers for the router, so that no record can send a stream thread
 * into a replacement loop: what fails is dead-lettered, with its reason, and processing goes on.
 *
 * <ul>
 *   <li>{@link Production}: an output the broker refuses as too large (or that cannot be
 *       serialized) goes to the dead-letter topic instead, its payload cut to {@link
 *       #MAX_PAYLOAD} bytes, with the output topic and size in the reason. A write to a front
 *       door's reply topic that fails with a retriable error (the topic deleted since the router
 *       found it, by a reaper or at the door's stop) is reported to the {@link ReplyTopics} of
 *       {@link #REPLY_TOPICS}, and the task is retried: its input is processed again, and the
 *       reply goes to the shared responses topic if the topic is gone (never lost, nor a stream
 *       thread replaced).
 *   <li>{@link Processing}: an exception a processor did not handle dead-letters the input record
 *       that caused it (its raw key and value), naming the processor.
 * </ul>
 *
 * <p>Both read the dead-letter topic from {@link #DEAD_LETTERS_TOPIC} in the Streams configuration.
 */
public final class StreamErrorHandlers {

  /** The Streams configuration key naming the dead-letter topic. */
  public static final String DEAD_LETTERS_TOPIC = "cascade.dead-letters.topic";
  /** The Streams configuration key holding the router's {@link ReplyTopics} (an object). */
  public static final String REPLY_TOPICS = "cascade.reply-topics";
  /** Most bytes of a refused payload kept in its dead letter. */
  public static final int MAX_PAYLOAD = 64 * 1024;

  private static final Logger LOG = LoggerFactory.getLogger(StreamErrorHandlers.class);

  private StreamErrorHandlers() {}

  /** Dead-letters outputs the broker refuses as too large, or that cannot be serialized. */
  public static final class Production implements ProductionExceptionHandler {
    private String deadLetters = "cascade.dead-letters";
    private ReplyTopics replies = ReplyTopics.sharedOnly("");

    @Override
    public void configure(Map<String, ?> configs) {
      deadLetters = deadLettersTopic(configs);
      if (configs.get(REPLY_TOPICS) instanceof ReplyTopics configured) {
        replies = configured;
      }
    }

    @Override
    public Response handleError(ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record,
        Exception exception) {
      if (exception instanceof RetriableException && replies.isReplyTopic(record.topic())) {
        replies.writeFailed(record.topic());
        LOG.warn("a reply to {} failed ({}); processing input {}-{}@{} again, the reply to go where the broker now"
            + " says (the shared responses topic if that reply topic is gone)", record.topic(), exception.toString(),
            context.topic(), context.partition(), context.offset());
        return Response.retry();
      }
      if (!(exception instanceof RecordTooLargeException || exception instanceof RecordBatchTooLargeException)) {
        return Response.fail();
      }
      int size = record.value() == null ? 0 : record.value().length;
      String reason = String.format("output to %s of %d bytes refused by the broker (%s); payload cut to its first %d"
          + " bytes", record.topic(), size, exception.getClass().getSimpleName(), Math.min(size, MAX_PAYLOAD));
      LOG.error("{} (input {}-{}@{})", reason, context.topic(), context.partition(), context.offset());
      return Response.resume(List.of(deadLetter(deadLetters, context, record.key(), cut(record.value()),
          record.topic(), "produce", exception, reason)));
    }

    @Override
    public Response handleSerializationError(ErrorHandlerContext context, ProducerRecord record, Exception exception,
        SerializationExceptionOrigin origin) {
      String reason = "output to " + record.topic() + " cannot be serialized (" + origin + "): " + exception;
      LOG.error(reason, exception);
      return Response.resume(List.of(deadLetter(deadLetters, context, context.sourceRawKey(),
          cut(context.sourceRawValue()), record.topic(), "serialize", exception, reason)));
    }
  }

  /** Dead-letters the input of a processor that threw. */
  public static final class Processing implements ProcessingExceptionHandler {
    private String deadLetters = "cascade.dead-letters";

    @Override
    public void configure(Map<String, ?> configs) {
      deadLetters = deadLettersTopic(configs);
    }

    @Override
    public Response handleError(ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
      String reason = "processor " + context.processorNodeId() + " failed: " + exception;
      LOG.error("{} (input {}-{}@{}); dead-lettered, processing goes on", reason, context.topic(), context.partition(),
          context.offset(), exception);
      return Response.resume(List.of(deadLetter(deadLetters, context, context.sourceRawKey(),
          cut(context.sourceRawValue()), context.topic(), "processing", exception, reason)));
    }
  }

  private static String deadLettersTopic(Map<String, ?> configs) {
    Object topic = configs.get(DEAD_LETTERS_TOPIC);
    return topic == null ? "cascade.dead-letters" : topic.toString();
  }

  static byte[] cut(byte[] payload) {
    return payload == null || payload.length <= MAX_PAYLOAD ? payload : Arrays.copyOf(payload, MAX_PAYLOAD);
  }

  private static ProducerRecord<byte[], byte[]> deadLetter(String deadLetters, ErrorHandlerContext context, byte[] key,
      byte[] payload, String outputTopic, String stage, Exception exception, String reason) {
    DeadLetter letter = DeadLetters.of(context, key, payload, outputTopic, stage, exception, reason);
    return new ProducerRecord<>(deadLetters, key, CascadeSerdes.deadLetters().encode(letter));
  }

}
