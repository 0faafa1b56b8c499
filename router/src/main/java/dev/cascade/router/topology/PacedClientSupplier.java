package dev.cascade.router.topology;

import java.time.Duration;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.KafkaClientSupplier;

/**
 * The Kafka clients of the router's Kafka Streams application, as Kafka Streams would make them,
 * except that the stream threads' and the global thread's consumers take their poll timeouts from
 * a {@link PollPacer}: short while there is work, long when the router is idle.
 */
public final class PacedClientSupplier implements KafkaClientSupplier {

  private final PollPacer pacer;

  public PacedClientSupplier(PollPacer pacer) {
    this.pacer = pacer;
  }

  @Override
  public Admin getAdmin(Map<String, Object> config) {
    return Admin.create(config);
  }

  @Override
  public Producer<byte[], byte[]> getProducer(Map<String, Object> config) {
    return new KafkaProducer<>(config, new ByteArraySerializer(), new ByteArraySerializer());
  }

  @Override
  public Consumer<byte[], byte[]> getConsumer(Map<String, Object> config) {
    return new PacedConsumer(config, pacer::mainPoll, pacer);
  }

  @Override
  public Consumer<byte[], byte[]> getRestoreConsumer(Map<String, Object> config) {
    return new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  @Override
  public Consumer<byte[], byte[]> getGlobalConsumer(Map<String, Object> config) {
    return new PacedConsumer(config, pacer::globalPoll, null);
  }

  /** A consumer whose polls block as long as the pacer says, and that tells it what they returned. */
  static final class PacedConsumer extends KafkaConsumer<byte[], byte[]> {
    private final UnaryOperator<Duration> timeout;
    private final PollPacer told;

    PacedConsumer(Map<String, Object> config, UnaryOperator<Duration> timeout, PollPacer told) {
      super(config, new ByteArrayDeserializer(), new ByteArrayDeserializer());
      this.timeout = timeout;
      this.told = told;
    }

    @Override
    public ConsumerRecords<byte[], byte[]> poll(Duration requested) {
      ConsumerRecords<byte[], byte[]> records = super.poll(timeout.apply(requested));
      if (told != null) {
        told.polled(records.count());
      }
      return records;
    }
  }
}
