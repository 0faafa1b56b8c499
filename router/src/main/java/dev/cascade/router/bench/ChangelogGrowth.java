package dev.cascade.router.bench;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;

/**
 * How many records the router's state stores wrote to their changelog topics over an interval, per
 * store: the difference of the changelogs' end offsets. Under exactly-once an end offset also
 * counts each transaction's commit marker (one per partition a transaction wrote to), so this is
 * what the broker stored, markers included.
 */
public final class ChangelogGrowth {

  private final Map<String, Object> clientProperties;
  private final String applicationId;
  private final Map<TopicPartition, Long> start;

  private ChangelogGrowth(Map<String, Object> clientProperties, String applicationId) {
    this.clientProperties = clientProperties;
    this.applicationId = applicationId;
    this.start = endOffsets();
  }

  /** Starts counting now, for the changelogs of the Kafka Streams application {@code applicationId}. */
  public static ChangelogGrowth start(Map<String, Object> clientProperties, String applicationId) {
    return new ChangelogGrowth(clientProperties, applicationId);
  }

  /** Per store (its name, as in the changelog's), records written since {@link #start} per request. */
  public Map<String, Double> perRequest(int requests) {
    Map<String, Double> out = new TreeMap<>();
    endOffsets().forEach((tp, end) -> out.merge(store(tp.topic()),
        (double) (end - start.getOrDefault(tp, 0L)) / requests, Double::sum));
    return out;
  }

  /** The store's name from its changelog's: {@code APPLICATION_ID-STORE-changelog}. */
  String store(String changelog) {
    return changelog.substring(applicationId.length() + 1, changelog.length() - "-changelog".length());
  }

  private Map<TopicPartition, Long> endOffsets() {
    try (Admin admin = Admin.create(clientProperties)) {
      String prefix = applicationId + "-";
      var names = admin.listTopics().names().get().stream()
          .filter(t -> t.startsWith(prefix) && t.endsWith("-changelog")).toList();
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      for (TopicDescription d : admin.describeTopics(names).allTopicNames().get().values()) {
        d.partitions().forEach(p -> latest.put(new TopicPartition(d.name(), p.partition()), OffsetSpec.latest()));
      }
      Map<TopicPartition, Long> out = new HashMap<>();
      admin.listOffsets(latest).all().get().forEach((tp, info) -> out.put(tp, info.offset()));
      return out;
    } catch (ExecutionException e) {
      throw new IllegalStateException("could not read the changelogs' end offsets: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the changelogs' end offsets", e);
    }
  }
}
