package dev.cascade.router.demo;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Drives a workload through the router over Kafka, as any client would: produces one Avro
 * request per example to the requests topic and reads responses and outcomes back with a
 * {@code read_committed} consumer, recording when each was sent and answered.
 */
public final class DemoWorkload {

  /**
   * What came back.
   *
   * @param sentAtNanos request id to when it was sent
   * @param answeredAtNanos request id to when its (first) response was read
   * @param responses every response record read, duplicates included
   * @param outcomes request id to its outcome record
   */
  public record Result(Map<String, Long> sentAtNanos, Map<String, Long> answeredAtNanos,
      List<CascadeResponse> responses, Map<String, RoutingOutcome> outcomes) {}

  private DemoWorkload() {}

  /**
   * Sends {@code examples} (ids {@code prefix-0}, {@code prefix-1}, …) and waits until every one has a
   * response and an outcome, or {@code idleTimeout} passes with nothing new.
   *
   * @param clientProps bootstrap servers and any client overrides
   * @param outcomesTopic the outcomes topic, or null to read responses only (and wait for those
   *     alone): a benchmark that uses no outcome then spends no CPU reading them
   * @param onAnswered called with the number answered so far, from the reading thread
   */
  public static Result run(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String outcomesTopic, String prefix, List<Example> examples, Duration idleTimeout, IntConsumer onAnswered)
      throws InterruptedException {
    return run(clientProps, requestsTopic, responsesTopic, outcomesTopic, prefix, examples, 0, idleTimeout,
        Progress.answered(onAnswered));
  }

  /** How far a run is: requests published and answered so far, reported from the reading thread. */
  @FunctionalInterface
  public interface Progress {
    void update(int published, int answered);

    /** Progress that reports only the number answered. */
    static Progress answered(IntConsumer onAnswered) {
      return (published, answered) -> onAnswered.accept(answered);
    }
  }

  /**
   * As above, sending at {@code ratePerSecond} requests a second on a fixed schedule (open loop:
   * request i is due at start + i / rate, however slowly the answers come), or all at once when it
   * is 0.
   */
  public static Result run(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String outcomesTopic, String prefix, List<Example> examples, double ratePerSecond, Duration idleTimeout,
      IntConsumer onAnswered) throws InterruptedException {
    return run(clientProps, requestsTopic, responsesTopic, outcomesTopic, prefix, examples, ratePerSecond,
        idleTimeout, Progress.answered(onAnswered));
  }

  /** As above, reporting requests published as well as answered. */
  public static Result run(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String outcomesTopic, String prefix, List<Example> examples, double ratePerSecond, Duration idleTimeout,
      Progress progress) throws InterruptedException {
    return run(clientProps, requestsTopic, responsesTopic, outcomesTopic, prefix, examples, ratePerSecond,
        idleTimeout, progress, null);
  }

  /** Told of each request's first response, by the example's index; on the thread that reads them. */
  @FunctionalInterface
  public interface Answered {
    void accept(int index, CascadeResponse response);
  }

  /**
   * As above; with {@code referencesLater} not null the requests go without their reference, and
   * it is told of each answer instead (to give the reference as feedback, say).
   */
  public static Result run(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String outcomesTopic, String prefix, List<Example> examples, double ratePerSecond, Duration idleTimeout,
      Progress progress, Answered referencesLater) throws InterruptedException {
    return run(clientProps, requestsTopic, responsesTopic, outcomesTopic, prefix, examples, ratePerSecond,
        idleTimeout, progress, referencesLater, null);
  }

  /**
   * As above; with {@code deadlineAfterMs} not null every request carries a {@code deadline_ms} that
   * many milliseconds after its {@code created_at_ms} (negative: passed already when it is sent), as
   * a caller that stops waiting then would.
   */
  public static Result run(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String outcomesTopic, String prefix, List<Example> examples, double ratePerSecond, Duration idleTimeout,
      Progress progress, Answered referencesLater, Long deadlineAfterMs) throws InterruptedException {
    if (!(ratePerSecond >= 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException("rate: must be 0 (all at once) or a positive number, was " + ratePerSecond);
    }
    Map<String, Long> sent = new ConcurrentHashMap<>();
    Map<String, Long> answered = new ConcurrentHashMap<>();
    List<CascadeResponse> responses = new ArrayList<>();
    Map<String, RoutingOutcome> outcomes = new HashMap<>();

    Map<String, Object> consumerProps = new HashMap<>(clientProps);
    consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    Map<String, Object> producerProps = new HashMap<>(clientProps);
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 2);

    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
        KafkaProducer<String, CascadeRequest> producer = new KafkaProducer<>(producerProps, new StringSerializer(),
            CascadeSerdes.requests().serializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : outcomesTopic == null ? List.of(responsesTopic) : List.of(responsesTopic, outcomesTopic)) {
        consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      }
      consumer.assign(partitions);
      consumer.seekToEnd(partitions);
      partitions.forEach(consumer::position);

      Thread sender = new Thread(() -> {
        long start = System.nanoTime();
        for (int i = 0; i < examples.size(); i++) {
          if (ratePerSecond > 0) {
            long due = start + (long) (i * 1e9 / ratePerSecond);
            for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
              LockSupport.parkNanos(wait);
            }
          }
          Example e = examples.get(i);
          String id = prefix + "-" + i;
          CascadeRequest request = CascadeRequest.newBuilder().setRequestId(id).setPrompt(e.prompt())
              .setMaxNewTokens(0).setReference(referencesLater == null ? e.reference() : null)
              .setMetadata(kindMetadata(e))
              .setCreatedAtMs(System.currentTimeMillis()).setMessages(List.of()).build();
          if (deadlineAfterMs != null) {
            request.setDeadlineMs(request.getCreatedAtMs() + deadlineAfterMs);
          }
          sent.put(id, System.nanoTime());
          producer.send(new ProducerRecord<>(requestsTopic, id, request));
        }
        producer.flush();
      }, "demo-sender");
      sender.start();

      long lastProgress = System.nanoTime();
      int outcomesWanted = outcomesTopic == null ? 0 : examples.size();
      while (answered.size() < examples.size() || outcomes.size() < outcomesWanted) {
        var records = consumer.poll(Duration.ofMillis(50));
        long now = System.nanoTime();
        for (ConsumerRecord<byte[], byte[]> r : records) {
          if (r.topic().equals(responsesTopic)) {
            CascadeResponse response = CascadeSerdes.responses().deserializer().deserialize(r.topic(), r.value());
            if (!response.getRequestId().startsWith(prefix + "-")) {
              continue;
            }
            responses.add(response);
            if (answered.putIfAbsent(response.getRequestId(), now) == null && referencesLater != null) {
              referencesLater.accept(Integer.parseInt(response.getRequestId().substring(prefix.length() + 1)),
                  response);
            }
          } else {
            RoutingOutcome outcome = CascadeSerdes.outcomes().deserializer().deserialize(r.topic(), r.value());
            if (outcome.getRequestId().startsWith(prefix + "-")) {
              outcomes.put(outcome.getRequestId(), outcome);
            }
          }
          lastProgress = now;
        }
        progress.update(sent.size(), answered.size());
        if (now - lastProgress > idleTimeout.toNanos()) {
          break;
        }
      }
      sender.join();
    }
    return new Result(new LinkedHashMap<>(sent), answered, responses, outcomes);
  }

  private static Map<String, String> kindMetadata(Example e) {
    return e.kind() == null ? Map.of() : Map.of("kind", e.kind());
  }
}
