package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzing, seeded so a failure reproduces, of the checks every request passes, with the real
 * bundled small model's tokenizer: the gRPC door's (metadata, then the router's validator) on
 * random GenerateRequests, and the Kafka door's validator on random CascadeRequests: any Unicode
 * (control characters and lone surrogates included), any token limit, any metadata. Each input is
 * accepted or refused with a message naming the field; none throws.
 */
class RequestChecksFuzzTest {

  private static final Pattern NAMES_A_FIELD = Pattern.compile("(prompt|request_id|max_new_tokens|metadata)\\b.*",
      Pattern.DOTALL);

  private static TextGenerator small;
  private static RequestValidator validator;

  @BeforeAll
  static void loadModel() {
    small = TextGenerators.load("small", "OnnxRuntime");
    validator = new RequestValidator(small);
  }

  @AfterAll
  static void closeModel() {
    small.close();
  }

  /** Plain lower-case words half the time (so some requests pass), any UTF-16 the other half. */
  private static boolean hostile;

  private static String text(SplittableRandom random, int max) {
    StringBuilder s = new StringBuilder();
    for (int n = random.nextInt(0, max + 1); n > 0; n--) {
      s.append(switch (hostile ? random.nextInt(4) : 0) {
        case 0 -> (char) random.nextInt('a', 'z' + 1);
        case 1 -> (char) random.nextInt(0, 32); // control characters
        case 2 -> (char) random.nextInt(0xD800, 0xE000); // lone surrogates
        default -> (char) random.nextInt(0, 0x10000);
      });
    }
    return s.toString();
  }

  private static Map<String, String> metadata(SplittableRandom random) {
    Map<String, String> m = new HashMap<>();
    for (int n = random.nextInt(0, hostile ? 40 : 4); n > 0; n--) {
      m.put(text(random, hostile ? 80 : 10) + "k", text(random, random.nextInt(10) == 0 ? 1_100 : 20));
    }
    return m;
  }

  @Test
  void anyGrpcRequestIsAcceptedOrRefusedNamingAField() {
    SplittableRandom random = new SplittableRandom(11);
    int tries = 3_000;
    int refused = 0;
    for (int i = 0; i < tries; i++) {
      hostile = random.nextBoolean();
      int maxNewTokens = random.nextInt(4) == 0 ? random.nextInt() : random.nextInt(-2, 600);
      GenerateRequest request = GenerateRequest.newBuilder().setPrompt(text(random, 300))
          .setRequestId(text(random, hostile ? 200 : 20)).setMaxNewTokens(maxNewTokens)
          .putAllMetadata(metadata(random)).build();
      String id = request.getRequestId().isEmpty() ? "generated" : request.getRequestId();
      CascadeRequest avro = ApiRecords.toAvro(request, id, "door", 1L);
      Optional<String> problem = ApiRecords.doorProblem(request).or(() -> validator.problem(avro));
      if (problem.isPresent()) {
        refused++;
        assertThat(problem.get()).matches(NAMES_A_FIELD);
      } else {
        assertThat(maxNewTokens).isBetween(0, RequestValidator.MAX_NEW_TOKENS_LIMIT);
        assertThat(request.getMetadataCount()).isLessThanOrEqualTo(32);
      }
    }
    System.out.printf("gRPC request fuzz: %d tried, %d refused%n", tries, refused);
    assertThat(refused).as("both outcomes exercised").isBetween(1, tries - 1);
  }

  @Test
  void anyKafkaRequestIsAcceptedOrRefusedNamingAField() {
    SplittableRandom random = new SplittableRandom(12);
    int tries = 3_000;
    int refused = 0;
    for (int i = 0; i < tries; i++) {
      hostile = random.nextBoolean();
      int maxNewTokens = random.nextInt(-1_000, 100_000);
      CascadeRequest request = CascadeRequest.newBuilder().setRequestId(text(random, hostile ? 200 : 20))
          .setPrompt(random.nextInt(5) == 0 ? text(random, 3_000) : text(random, 40))
          .setMaxNewTokens(random.nextInt(3) == 0 ? maxNewTokens : random.nextInt(0, 48))
          .setMetadata(metadata(random)).setCreatedAtMs(1L).build();
      Optional<String> problem = validator.problem(request);
      if (problem.isPresent()) {
        refused++;
        assertThat(problem.get()).matches(NAMES_A_FIELD);
      } else {
        assertThat(request.getRequestId()).isNotBlank();
        assertThat(request.getMaxNewTokens()).isBetween(0, RequestValidator.MAX_NEW_TOKENS_LIMIT);
      }
    }
    System.out.printf("Kafka request fuzz: %d tried, %d refused%n", tries, refused);
    assertThat(refused).as("both outcomes exercised").isBetween(1, tries - 1);
  }
}
