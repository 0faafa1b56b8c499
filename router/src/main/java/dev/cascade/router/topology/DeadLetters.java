package dev.cascade.router.topology;

import dev.cascade.schemas.avro.DeadLetter;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/** Builds the dead-letter record for an input that cannot be processed: its bytes, where it came from, and why. */
public final class DeadLetters {

  /**
   * The stage of an escalation no tier answered: the one dead-letter stage whose request may succeed
   * if sent again (a model server down), where the others fail on the request itself.
   */
  public static final String ESCALATION_STAGE = "escalation";
  /**
   * How the reason of a request refused for a repeated id begins (stage validate): the doors
   * answer it as such (gRPC ALREADY_EXISTS; HTTP 409 for a call with an Idempotency-Key).
   */
  public static final String DUPLICATE_ID = "request_id: duplicate";

  private DeadLetters() {}

  /** A request that was decoded and validated but failed later: its re-encoded bytes and why. */
  static DeadLetter ofRequest(dev.cascade.schemas.avro.CascadeRequest request, String stage, Throwable error, long nowMs) {
    byte[] bytes = dev.cascade.schemas.serde.CascadeSerdes.requests().serializer().serialize("", request);
    return DeadLetter.newBuilder()
        .setTopic("").setPartition(-1).setOffset(-1)
        .setKey(ByteBuffer.wrap(request.getRequestId().getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .setValue(ByteBuffer.wrap(bytes))
        .setHeaders(new ArrayList<>())
        .setTimestampMs(nowMs)
        .setReason(stage + " failed: " + error)
        .setErrorClass(error.getClass().getName())
        .setStage(stage)
        .setFailedAtMs(nowMs)
        .build();
  }

  /** An escalation that cannot be answered: the request it came from (re-encoded) and why. */
  static DeadLetter ofEscalation(dev.cascade.schemas.avro.Escalation e, String stage, Throwable error, long nowMs) {
    dev.cascade.schemas.avro.CascadeRequest request = dev.cascade.schemas.avro.CascadeRequest.newBuilder()
        .setRequestId(e.getRequestId()).setPrompt(e.getPrompt()).setMaxNewTokens(e.getMaxNewTokens())
        .setReference(e.getReference()).setMetadata(e.getMetadata()).setBypassCache(e.getBypassCache())
        .setReplyTo(e.getReplyTo()).setCreatedAtMs(e.getCreatedAtMs()).setDeadlineMs(e.getDeadlineMs())
        .setMessages(e.getMessages()).build();
    return ofRequest(request, stage, error, nowMs);
  }

  /**
   * What a Kafka Streams exception handler dead-letters: the input at {@code context} (its
   * position and timestamp), {@code key} and {@code payload}, and the topic the failed output was
   * for (header {@code cascade.output-topic}).
   */
  static DeadLetter of(org.apache.kafka.streams.errors.ErrorHandlerContext context, byte[] key, byte[] payload,
      String outputTopic, String stage, Throwable error, String reason) {
    List<dev.cascade.schemas.avro.DeadLetterHeader> headers = new ArrayList<>();
    headers.add(dev.cascade.schemas.avro.DeadLetterHeader.newBuilder().setKey("cascade.output-topic")
        .setValue(ByteBuffer.wrap(outputTopic.getBytes(java.nio.charset.StandardCharsets.UTF_8))).build());
    return DeadLetter.newBuilder()
        .setTopic(context.topic() == null ? "" : context.topic())
        .setPartition(context.partition())
        .setOffset(context.offset())
        .setKey(key == null ? null : ByteBuffer.wrap(key))
        .setValue(payload == null ? null : ByteBuffer.wrap(payload))
        .setHeaders(headers)
        .setTimestampMs(context.timestamp())
        .setReason(reason)
        .setErrorClass(error.getClass().getName())
        .setStage(stage)
        .setFailedAtMs(System.currentTimeMillis())
        .build();
  }

  /** As {@link #of(ProcessorContext, Record, String, Throwable, String)} for a record read with a String key (UTF-8). */
  public static DeadLetter ofStringKeyed(ProcessorContext<?, ?> context, Record<String, byte[]> record, String stage,
      Throwable error, String reason) {
    return of(context, new Record<>(record.key() == null ? null
        : record.key().getBytes(java.nio.charset.StandardCharsets.UTF_8), record.value(), record.timestamp(),
        record.headers()), stage, error, reason);
  }

  public static DeadLetter of(ProcessorContext<?, ?> context, Record<byte[], byte[]> record, String stage, Throwable error,
      String reason) {
    RecordMetadata meta = context.recordMetadata().orElse(null);
    List<dev.cascade.schemas.avro.DeadLetterHeader> headers = new ArrayList<>();
    for (Header h : record.headers()) {
      headers.add(dev.cascade.schemas.avro.DeadLetterHeader.newBuilder().setKey(h.key())
          .setValue(h.value() == null ? null : ByteBuffer.wrap(h.value())).build());
    }
    return DeadLetter.newBuilder()
        .setTopic(meta == null ? "" : meta.topic())
        .setPartition(meta == null ? -1 : meta.partition())
        .setOffset(meta == null ? -1 : meta.offset())
        .setKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
        .setValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
        .setHeaders(headers)
        .setTimestampMs(record.timestamp())
        .setReason(reason)
        .setErrorClass(error == null ? validationCode(reason) : error.getClass().getName())
        .setStage(stage)
        .setFailedAtMs(context.currentSystemTimeMs())
        .build();
  }

  /**
   * The code of a refusal without an exception: {@code invalid:FIELD} for a reason that begins with
   * the field it names ("prompt: must not be empty" is {@code invalid:prompt}), else {@code invalid}.
   */
  static String validationCode(String reason) {
    int colon = reason == null ? -1 : reason.indexOf(':');
    String field = colon > 0 ? reason.substring(0, colon) : "";
    return field.matches("[A-Za-z_][A-Za-z0-9_.\\[\\]]*") ? "invalid:" + field : "invalid";
  }
}
