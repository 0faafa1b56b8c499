package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code learn} and {@code serve} stopped (SIGTERM) after their Kafka broker died under them, all as
 * separate processes: the stop does not wait the usual 30 s for a last commit that cannot be made,
 * nor, in {@code serve}, for replies or for deleting its front door's reply topic. Their broker
 * watches have seen the cluster go, so the stop says so and waits only a moment; exactly-once aborts
 * the open transactions, and nothing either had not committed is lost.
 */
class BrokerLostStopIT {

  @TempDir
  Path dir;

  @Test
  void aLearnerAndARouterWhoseBrokerIsGoneStopWithoutWaitingForWhatCannotBeDone() throws Exception {
    int port = EmbeddedKafka.freePort();
    List<JvmProcess> processes = new ArrayList<>();
    try {
      JvmProcess broker = JvmProcess.cascade(List.of("broker", "--data-dir", dir.resolve("kafka").toString(),
          "--port", String.valueOf(port), "--controller-port", String.valueOf(EmbeddedKafka.freePort())));
      processes.add(broker);
      assertThat(broker.await("bootstrap.servers=", Duration.ofSeconds(120))).as(broker.output()).isTrue();
      JvmProcess learn = JvmProcess.cascade(settings(List.of("learn"), port, "learner-state"));
      processes.add(learn);
      JvmProcess serve = JvmProcess.cascade(settings(List.of("serve"), port, "router-state",
          // No large model runs: nothing is escalated.
          "large.target=127.0.0.1:" + EmbeddedKafka.freePort(), "grpc.host=127.0.0.1", "grpc.port=0", "http.port=0"));
      processes.add(serve);
      assertThat(learn.awaitLine("learner=", Duration.ofSeconds(180))).as(learn.output()).isPresent();
      assertThat(serve.awaitLine("grpc=", Duration.ofSeconds(180))).as(serve.output()).isPresent();

      broker.kill9();
      for (JvmProcess p : List.of(learn, serve)) {
        assertThat(p.await("(bootstrap.servers) has not answered for", Duration.ofSeconds(60))).as(p.output())
            .isTrue();
        p.close();
        assertThat(p.process.isAlive()).isFalse();
        assertThat(p.output()).contains("the Kafka cluster is not answering: the last commit cannot be made");
      }
      assertThat(learn.output()).contains("learn: stopped in");
      assertThat(serve.output()).contains("serve: stopped in").contains("keeps its reply topic")
          .contains("the Kafka cluster is not answering, so it cannot be deleted now")
          .doesNotContain("could not delete its reply topic");
    } finally {
      for (JvmProcess p : processes) {
        p.close();
      }
    }
  }

  private List<String> settings(List<String> command, int port, String stateDir, String... more) {
    List<String> args = new ArrayList<>(command);
    List<String> all = new ArrayList<>(List.of("bootstrap.servers=127.0.0.1:" + port,
        "state.dir=" + dir.resolve(stateDir), "metrics.enabled=false", "health.kafka-timeout-ms=2000"));
    all.addAll(List.of(more));
    for (String kv : all) {
      args.add("--set");
      args.add(kv);
    }
    return args;
  }
}
