package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.metrics.Scrape;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Orphaned reply topics, as production leaves them: front doors ({@code serve}) as separate OS
 * processes on a real broker, one killed with {@code kill -9}, which leaves its reply topic behind.
 * Another front door, started after it with a short grace, deletes that topic once the grace has
 * passed; it deletes neither its own nor that of a live front door that has had nothing to read
 * since it started, not even after that one was paused (SIGSTOP, as a long GC pause) past its
 * session timeout. (The live idle front door reaps too, with the default grace of 10 minutes, so
 * that the orphan is still there when the new one starts.) A reply topic left by a front door of an
 * earlier version ({@code front-door-<uuid>}, no consumer group) is deleted only by the front door
 * told to ({@code legacy-grace-ms}), once nothing was written to it for that long.
 */
class ReplyTopicReaperIT {

  private static final Pattern REPLY_TOPIC = Pattern.compile("reads its replies from its own topic (\\S+)");
  private static final Duration GRACE = Duration.ofSeconds(30);
  private static final Duration DEFAULT_GRACE = Duration.ofMinutes(10);

  @TempDir
  Path state;

  /**
   * A front door ({@code cascade serve}) with this reaper grace (and this one for earlier versions'
   * reply topics; zero: never) and a short Kafka session.
   */
  private static JvmProcess serve(String bootstrap, Path stateDir, Duration grace, Duration legacyGrace)
      throws Exception {
    List<String> args = new ArrayList<>(List.of("serve"));
    for (String kv : List.of("bootstrap.servers=" + bootstrap, "state.dir=" + stateDir, "topic.partitions=2",
        "front-door.reply-topic-reaper.legacy-grace-ms=" + legacyGrace.toMillis(),
        // Never called: nothing here asks for an answer.
        "large.target=127.0.0.1:2", "http.enabled=false", "metrics.port=0",
        "front-door.reply-topic-reaper.grace-ms=" + grace.toMillis(), "front-door.reply-topic-reaper.interval-ms=1000",
        // The grace covers a request's whole life, as the reaper asks (else it warns).
        "grpc.default-deadline-ms=5000", "escalation.max-wait-ms=0",
        // Kafka drops a silent member after 6 s (the broker's least) instead of 45 s.
        "kafka.session.timeout.ms=6000", "kafka.heartbeat.interval.ms=1000")) {
      args.add("--set");
      args.add(kv);
    }
    return JvmProcess.cascade(args);
  }

  private static String replyTopic(JvmProcess door) throws InterruptedException {
    assertThat(door.await("grpc=", Duration.ofSeconds(240))).as(door.output()).isTrue();
    Matcher m = REPLY_TOPIC.matcher(door.output());
    assertThat(m.find()).as(door.output()).isTrue();
    return m.group(1);
  }

  private static Set<String> topics(Admin admin) throws Exception {
    return admin.listTopics().names().get(30, TimeUnit.SECONDS);
  }

  /** Waits until the consumer group named after {@code topic} has a member: its front door's membership. */
  private static void awaitMember(Admin admin, String topic) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (admin.describeConsumerGroups(List.of(topic)).all().get(30, TimeUnit.SECONDS).get(topic).members()
        .isEmpty()) {
      assertThat(System.nanoTime()).as("a member in group " + topic).isLessThan(deadline);
      Thread.sleep(200);
    }
  }

  private static void signal(JvmProcess door, String signal) throws Exception {
    assertThat(new ProcessBuilder("kill", "-" + signal, Long.toString(door.process.pid())).start().waitFor())
        .isZero();
  }

  /** {@code cascade_reply_topics_reaped_total} of a front door, from its metrics endpoint. */
  private static double reaped(JvmProcess door) throws Exception {
    String line = door.awaitLine("metrics=", Duration.ofSeconds(5)).orElseThrow();
    URI uri = URI.create(line.substring("metrics=".length()));
    HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + uri.getPort() + uri.getPath())).timeout(Duration.ofSeconds(30)).build(),
        HttpResponse.BodyHandlers.ofString());
    return Scrape.parse(response.body()).value("cascade_reply_topics_reaped_total");
  }

  @Test
  void aKilledFrontDoorsTopicIsReapedAndNoLiveFrontDoorsIs() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      String bootstrap = kafka.bootstrapServers();
      JvmProcess killed = serve(bootstrap, state.resolve("killed"), DEFAULT_GRACE, Duration.ZERO);
      JvmProcess idle = serve(bootstrap, state.resolve("idle"), DEFAULT_GRACE, Duration.ZERO);
      try {
        String killedTopic = replyTopic(killed);
        String idleTopic = replyTopic(idle);
        // Both are members of their topic's group while they run (what the reapers go by).
        awaitMember(admin, killedTopic);
        awaitMember(admin, idleTopic);
        killed.kill9();
        // What a front door of the version before consumer groups left behind.
        String legacyTopic = "cascade.responses.front-door-" + java.util.UUID.randomUUID();
        admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(legacyTopic, 1, (short) 1))).all()
            .get(30, TimeUnit.SECONDS);

        JvmProcess restarted = serve(bootstrap, state.resolve("restarted"), GRACE, GRACE);
        try {
          String restartedTopic = replyTopic(restarted);
          assertThat(topics(admin)).as(idle.output()).contains(killedTopic, idleTopic, restartedTopic, legacyTopic);

          // The idle front door paused past its session timeout: Kafka drops it from its group, and
          // the new front door's reaper sees its topic without a reader. Then it goes on, well
          // within the grace.
          signal(idle, "STOP");
          boolean seenWithoutReader;
          try {
            seenWithoutReader = restarted.await("reply topic " + idleTopic + " has no reader", Duration.ofSeconds(90));
          } finally {
            signal(idle, "CONT");
          }
          assertThat(seenWithoutReader).as(restarted.output()).isTrue();
          assertThat(restarted.await("reply topic " + idleTopic + " has a reader again", Duration.ofSeconds(60)))
              .as(restarted.output()).isTrue();

          // The killed front door's topic goes, once the grace has passed, and so does the earlier
          // version's (never written to) by the front door told to delete those.
          long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
          while (topics(admin).contains(killedTopic) || topics(admin).contains(legacyTopic)) {
            assertThat(System.nanoTime()).as("reaped: " + killedTopic + ", " + legacyTopic + "\n" + restarted.output())
                .isLessThan(deadline);
            Thread.sleep(500);
          }
          // By the new front door's reaper: logged and counted once each.
          for (String topic : List.of(killedTopic, legacyTopic)) {
            String deleted = "deleted orphaned reply topic " + topic;
            assertThat(restarted.await(deleted, Duration.ofSeconds(30))).as(restarted.output()).isTrue();
            assertThat(restarted.count(deleted)).isEqualTo(1);
          }
          assertThat(restarted.output()).contains("deleted orphaned reply topic " + legacyTopic
              + " of a front door of an earlier version");
          assertThat(reaped(restarted)).isEqualTo(2.0);

          // More than another grace on: the live front doors keep their topics, the idle one still
          // without a record on it since it started.
          Thread.sleep(GRACE.plusSeconds(10).toMillis());
          assertThat(topics(admin)).as(restarted.output()).contains(idleTopic, restartedTopic)
              .doesNotContain(killedTopic, legacyTopic);
          assertThat(restarted.output() + idle.output()).doesNotContain("deleted orphaned reply topic " + idleTopic)
              .doesNotContain("deleted orphaned reply topic " + restartedTopic).doesNotContain("re-created it");
          assertThat(reaped(restarted)).isEqualTo(2.0);
          assertThat(reaped(idle)).isZero();
        } finally {
          restarted.close();
        }
      } finally {
        idle.close();
        killed.close();
      }
    }
  }
}
