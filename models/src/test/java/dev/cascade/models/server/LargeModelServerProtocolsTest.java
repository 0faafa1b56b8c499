package dev.cascade.models.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.proto.kserve.GRPCInferenceServiceGrpc;
import dev.cascade.proto.kserve.InferTensorContents;
import dev.cascade.proto.kserve.ModelInferRequest;
import dev.cascade.proto.kserve.ModelInferResponse;
import dev.cascade.proto.kserve.ModelMetadataRequest;
import dev.cascade.proto.kserve.ModelMetadataResponse;
import dev.cascade.proto.kserve.ModelReadyRequest;
import dev.cascade.proto.kserve.ServerLiveRequest;
import dev.cascade.proto.kserve.ServerMetadataRequest;
import dev.cascade.proto.kserve.ServerReadyRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The bundled large-model server's other doors, called by stock clients: KServe v2 through the
 * stubs generated from the published {@code grpc_predict_v2.proto}, and OpenAI-compatible
 * completions through the JDK's HTTP client. The real large model answers.
 */
class LargeModelServerProtocolsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static TextGenerator large;
  private static LargeModelServer server;
  private static ManagedChannel channel;
  private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub kserve;
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void start() throws Exception {
    large = TextGenerators.load("large", "OnnxRuntime");
    server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(2, 8)).start()
        .serveHttp("127.0.0.1", 0);
    channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    kserve = GRPCInferenceServiceGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void stop() throws Exception {
    channel.shutdownNow();
    server.stop();
    large.close();
  }

  private static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub kserve() {
    return kserve.withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  @Test
  void aStockKServeClientGetsHealthAndMetadata() {
    assertThat(kserve().serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
    assertThat(kserve().serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
    assertThat(kserve().modelReady(ModelReadyRequest.newBuilder().setName("large").build()).getReady()).isTrue();
    for (ModelReadyRequest unknown : List.of(ModelReadyRequest.newBuilder().setName("other").build(),
        ModelReadyRequest.newBuilder().setName("large").setVersion("2").build())) {
      assertThatThrownBy(() -> kserve().modelReady(unknown))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
            assertThat(e.getStatus().getDescription()).contains("unknown model '" + unknown.getName() + "'");
          });
    }
    assertThat(kserve().serverMetadata(ServerMetadataRequest.getDefaultInstance()).getName()).isNotEmpty();
    ModelMetadataResponse metadata = kserve().modelMetadata(ModelMetadataRequest.newBuilder().setName("large").build());
    assertThat(metadata.getName()).isEqualTo("large");
    assertThat(metadata.getVersionsList()).containsExactly("1");
    assertThat(metadata.getInputsList()).extracting(ModelMetadataResponse.TensorMetadata::getName,
        ModelMetadataResponse.TensorMetadata::getDatatype)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("text_input", "BYTES"),
            org.assertj.core.groups.Tuple.tuple("max_tokens", "INT32"));
    assertThat(metadata.getOutputsList()).extracting(ModelMetadataResponse.TensorMetadata::getName)
        .containsExactly("text_output");
    // The shape it reports is one it takes (a -1 would say any number of rows is).
    assertThat(metadata.getInputsList()).allSatisfy(t -> assertThat(t.getShapeList()).containsExactly(1L, 1L));
    assertThat(metadata.getOutputs(0).getShapeList()).containsExactly(1L, 1L);
    assertThatThrownBy(() -> kserve().modelMetadata(ModelMetadataRequest.newBuilder().setName("other").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
    HealthCheckResponse health = HealthGrpc.newBlockingStub(channel)
        .check(HealthCheckRequest.newBuilder().setService(GRPCInferenceServiceGrpc.SERVICE_NAME).build());
    assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
  }

  @Test
  void aStockKServeClientGetsTheModelsAnswerRawAsTritonSendsIt() {
    Generation expected = large.generate(List.of("the quick brown fox"), 12).get(0);
    // Inputs as typed contents.
    ModelInferResponse typed = kserve().modelInfer(ModelInferRequest.newBuilder().setModelName("large").setId("k1")
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("text_input").setDatatype("BYTES")
            .addShape(1).addShape(1)
            .setContents(InferTensorContents.newBuilder().addBytesContents(ByteString.copyFromUtf8("the quick brown fox"))))
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("max_tokens").setDatatype("INT32")
            .addShape(1).addShape(1).setContents(InferTensorContents.newBuilder().addIntContents(12)))
        .build());
    assertThat(typed.getModelName()).isEqualTo("large");
    assertThat(typed.getId()).isEqualTo("k1");
    assertThat(typed.getOutputs(0).getName()).isEqualTo("text_output");
    assertThat(typed.getOutputs(0).getDatatype()).isEqualTo("BYTES");
    assertThat(typed.getOutputs(0).getShapeList()).containsExactly(1L, 1L);
    assertThat(rawText(typed.getRawOutputContents(0))).isEqualTo(expected.text());
    assertThat(typed.getParametersMap().get("completion_tokens").getInt64Param()).isEqualTo(expected.tokens().length);
    assertThat(typed.getParametersMap().get("prompt_tokens").getInt64Param())
        .isEqualTo(large.promptTokens("the quick brown fox").orElseThrow());
    // Inputs as raw contents, as Triton's clients send them.
    ModelInferResponse raw = kserve().modelInfer(ModelInferRequest.newBuilder().setModelName("large")
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("text_input").setDatatype("BYTES")
            .addShape(1))
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("max_tokens").setDatatype("INT32")
            .addShape(1))
        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("text_output"))
        .addRawInputContents(KServeBytes.encode(List.of("the quick brown fox")))
        .addRawInputContents(ByteString.copyFrom(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(12)
            .array()))
        .build());
    assertThat(rawText(raw.getRawOutputContents(0))).isEqualTo(expected.text());
  }

  @Test
  void badKServeRequestsAreInvalidArgumentOrNotFound() {
    ModelInferRequest.InferInputTensor text = ModelInferRequest.InferInputTensor.newBuilder().setName("text_input")
        .setDatatype("BYTES").addShape(1)
        .setContents(InferTensorContents.newBuilder().addBytesContents(ByteString.copyFromUtf8("cat"))).build();
    assertCode(() -> kserve().modelInfer(ModelInferRequest.newBuilder().setModelName("other").addInputs(text).build()),
        Status.Code.NOT_FOUND, "unknown model");
    assertCode(() -> kserve().modelInfer(ModelInferRequest.newBuilder().setModelName("large").build()),
        Status.Code.INVALID_ARGUMENT, "text_input");
    int limit = large.info().maxNewTokensLimit();
    assertCode(() -> kserve().modelInfer(ModelInferRequest.newBuilder().setModelName("large").addInputs(text)
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("max_tokens").setDatatype("INT32")
            .addShape(1).setContents(InferTensorContents.newBuilder().addIntContents(limit + 1)))
        .build()), Status.Code.INVALID_ARGUMENT, "max_tokens: " + (limit + 1));
    assertCode(() -> kserve().modelInfer(ModelInferRequest.newBuilder().setModelName("large").addInputs(text)
        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("logits")).build()),
        Status.Code.INVALID_ARGUMENT, "logits");
  }

  private static ModelInferRequest.InferInputTensor.Builder input(String name, String datatype, long... shape) {
    ModelInferRequest.InferInputTensor.Builder input = ModelInferRequest.InferInputTensor.newBuilder().setName(name)
        .setDatatype(datatype);
    for (long d : shape) {
      input.addShape(d);
    }
    return input;
  }

  private static InferTensorContents.Builder text(String prompt) {
    return InferTensorContents.newBuilder().addBytesContents(ByteString.copyFromUtf8(prompt));
  }

  private static ByteString int32(int value) {
    return ByteString.copyFrom(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array());
  }

  private static ModelInferRequest.Builder infer() {
    return ModelInferRequest.newBuilder().setModelName("large");
  }

  @Test
  void kServeRequestsTheProtocolForbidsAreInvalidArgumentNamingTheTensor() {
    Status.Code invalid = Status.Code.INVALID_ARGUMENT;
    // Data both in contents and in raw_input_contents.
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1).setContents(text("cat")))
        .addRawInputContents(KServeBytes.encode(List.of("dog"))).build()),
        invalid, "text_input: both contents and raw_input_contents given");
    // More raw entries than inputs, and fewer.
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addRawInputContents(KServeBytes.encode(List.of("dog"))).addRawInputContents(int32(4)).build()),
        invalid, "raw_input_contents: 2 entries for 1 input");
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addInputs(input("max_tokens", "INT32", 1)).addRawInputContents(KServeBytes.encode(List.of("dog"))).build()),
        invalid, "raw_input_contents: 1 entry for 2 inputs");
    // An input twice, and one the model does not have (as an unknown output is).
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1).setContents(text("cat")))
        .addInputs(input("text_input", "BYTES", 1).setContents(text("dog"))).build()),
        invalid, "text_input: given more than once");
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1).setContents(text("cat")))
        .addInputs(input("temperature", "FP32", 1)).build()),
        invalid, "inputs: unknown input 'temperature'");
    // Only the shapes the metadata and the message name.
    for (long[] shape : new long[][] {{}, {1, 1, 1}, {2, 1}, {-1, 1}}) {
      assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", shape)
          .setContents(text("cat"))).build()), invalid, "text_input: shape must be [1] or [1, 1]");
      assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1).setContents(text("cat")))
          .addInputs(input("max_tokens", "INT32", shape).setContents(InferTensorContents.newBuilder()
              .addIntContents(4))).build()), invalid, "max_tokens: shape must be [1] or [1, 1]");
    }
  }

  @Test
  void kServeErrorsSayWhatTheCallerSent() {
    Status.Code invalid = Status.Code.INVALID_ARGUMENT;
    int limit = large.info().maxNewTokensLimit();
    // An INT64 beyond int's range: the value sent, not a clamped one.
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1).setContents(text("cat")))
        .addInputs(input("max_tokens", "INT64", 1).setContents(InferTensorContents.newBuilder()
            .addInt64Contents(4_294_967_299L))).build()), invalid, "max_tokens: 4294967299 is outside 1.." + limit);
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addInputs(input("max_tokens", "INT64", 1)).addRawInputContents(KServeBytes.encode(List.of("cat")))
        .addRawInputContents(ByteString.copyFrom(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
            .putLong(-4_294_967_299L).array())).build()), invalid, "max_tokens: -4294967299 is outside 1.." + limit);
    // Bytes that are not UTF-8, in contents and raw.
    ByteString notUtf8 = ByteString.copyFrom(new byte[] {'o', 'k', (byte) 0xFF, (byte) 0xFE});
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1)
        .setContents(InferTensorContents.newBuilder().addBytesContents(notUtf8))).build()),
        invalid, "text_input: the prompt is not UTF-8: byte 0xFF at offset 2 (of 4)");
    ByteString prefixed = ByteString.copyFrom(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(4).array())
        .substring(0, 4).concat(notUtf8);
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addRawInputContents(prefixed).build()), invalid, "text_input: the prompt is not UTF-8: byte 0xFF at offset 2");
    // Raw text that is not length-prefixed: with junk after the element, and with no prefix at all.
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addRawInputContents(KServeBytes.encode(List.of("cat")).concat(ByteString.copyFromUtf8("junk"))).build()),
        invalid, "text_input: its raw contents (raw_input_contents[0]) are not length-prefixed BYTES (each element a"
            + " 4-byte little-endian length, then that many bytes): element 2, at byte 7 of 11, declares 1802401130"
            + " bytes, which runs past the end (0 left)");
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addRawInputContents(ByteString.copyFromUtf8("cat")).build()),
        invalid, "not length-prefixed BYTES (each element a 4-byte little-endian length, then that many bytes):"
            + " element 1, at byte 0 of 3, has 3 bytes left, too few for its 4-byte length");
    // A raw max_tokens of the wrong width.
    assertCode(() -> kserve().modelInfer(infer().addInputs(input("text_input", "BYTES", 1))
        .addInputs(input("max_tokens", "INT32", 1)).addRawInputContents(KServeBytes.encode(List.of("cat")))
        .addRawInputContents(ByteString.copyFrom(new byte[8])).build()),
        invalid, "max_tokens: its raw contents (raw_input_contents[1]) must be one INT32 (4 bytes, little-endian),"
            + " were 8 bytes");
  }

  @Test
  void stalledOpenAiUploadsHoldUpNoOtherCaller() throws Exception {
    List<java.net.Socket> stalled = new java.util.ArrayList<>();
    try {
      // More than Jetty has threads (Javalin's pool: 250): each announces 1,000 bytes and sends one.
      for (int i = 0; i < 260; i++) {
        java.net.Socket socket = new java.net.Socket("127.0.0.1", server.httpPort());
        stalled.add(socket);
        socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        socket.getOutputStream().flush();
      }
      Thread.sleep(1_500); // past RequestBodyGuard.STALLED_MS
      HttpResponse<String> models = HTTP.send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create(base() + "/models")).timeout(java.time.Duration.ofSeconds(5)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(models.statusCode()).as("answered while 260 uploads stall").isEqualTo(200);
      HttpResponse<String> completion = post("{\"model\":\"large\",\"prompt\":\"cat\",\"max_tokens\":4}");
      assertThat(completion.statusCode()).as(completion.body()).isEqualTo(200);
    } finally {
      for (java.net.Socket socket : stalled) {
        socket.close();
      }
    }
  }

  @Test
  void openAiCompletionsAnswerLikeTheModel() throws Exception {
    Generation expected = large.generate(List.of("the quick brown fox"), 12).get(0);
    HttpResponse<String> response = post("{\"model\":\"large\",\"prompt\":\"the quick brown fox\",\"max_tokens\":12,"
        + "\"temperature\":0}");
    assertThat(response.statusCode()).isEqualTo(200);
    JsonNode body = JSON.readTree(response.body());
    assertThat(body.path("object").asText()).isEqualTo("text_completion");
    assertThat(body.path("model").asText()).isEqualTo("large");
    assertThat(body.path("choices").path(0).path("text").asText()).isEqualTo(expected.text());
    assertThat(body.path("choices").path(0).path("finish_reason").asText()).isIn("stop", "length");
    assertThat(body.path("usage").path("completion_tokens").asInt()).isEqualTo(expected.tokens().length);
    int promptTokens = large.promptTokens("the quick brown fox").orElseThrow();
    assertThat(body.path("usage").path("prompt_tokens").asInt()).isEqualTo(promptTokens);
    assertThat(body.path("usage").path("total_tokens").asInt()).isEqualTo(promptTokens + expected.tokens().length);
    // stop cuts the answer before the first stop string; echo puts the prompt in front.
    String stop = expected.text().substring(expected.text().length() / 2, expected.text().length() / 2 + 1);
    JsonNode cut = JSON.readTree(post("{\"prompt\":\"the quick brown fox\",\"max_tokens\":12,\"stop\":\"" + stop
        + "\",\"echo\":true}").body());
    assertThat(cut.path("choices").path(0).path("text").asText())
        .isEqualTo("the quick brown fox" + expected.text().substring(0, expected.text().indexOf(stop)));
    assertThat(cut.path("choices").path(0).path("finish_reason").asText()).isEqualTo("stop");
    // A prompt array of one, and no model named, work too.
    JsonNode array = JSON.readTree(post("{\"prompt\":[\"the quick brown fox\"],\"max_tokens\":12}").body());
    assertThat(array.path("choices").path(0).path("text").asText()).isEqualTo(expected.text());
    HttpResponse<String> models = HTTP.send(HttpRequest.newBuilder(URI.create(base() + "/models")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(models.statusCode()).isEqualTo(200);
    assertThat(JSON.readTree(models.body()).path("data").path(0).path("id").asText()).isEqualTo("large");
  }

  @Test
  void openAiChatCompletionsAnswerTheLastUserMessageLikeTheModel() throws Exception {
    int limit = large.info().maxNewTokensLimit();
    Generation expected = large.generate(List.of("the quick brown fox"), limit).get(0);
    HttpResponse<String> response = post("/chat/completions", "{\"model\":\"large\",\"messages\":["
        + "{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"a cat\"},"
        + "{\"role\":\"assistant\",\"content\":\"k a t\"},{\"role\":\"user\",\"content\":\"the quick brown fox\"}]}");
    assertThat(response.statusCode()).isEqualTo(200);
    JsonNode body = JSON.readTree(response.body());
    assertThat(body.path("object").asText()).isEqualTo("chat.completion");
    assertThat(body.path("id").asText()).startsWith("chatcmpl-");
    JsonNode choice = body.path("choices").path(0);
    assertThat(choice.path("message").path("role").asText()).isEqualTo("assistant");
    // No max_tokens: the model's own limit, not a completion's 16.
    assertThat(choice.path("message").path("content").asText()).isEqualTo(expected.text());
    assertThat(choice.has("text")).isFalse();
    assertThat(body.path("usage").path("completion_tokens").asInt()).isEqualTo(expected.tokens().length);
    assertThat(body.path("usage").path("prompt_tokens").asInt())
        .isEqualTo(large.promptTokens("the quick brown fox").orElseThrow());
    JsonNode two = JSON.readTree(post("/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":"
        + "\"the quick brown fox\"}],\"max_completion_tokens\":2}").body());
    assertThat(two.path("choices").path(0).path("message").path("content").asText())
        .isEqualTo(large.generate(List.of("the quick brown fox"), 2).get(0).text());
    assertThat(two.path("choices").path(0).path("finish_reason").asText()).isEqualTo("length");
    // Errors name the chat's own fields.
    assertHttp(post("/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}"), 400,
        "messages: no message with role 'user'");
    assertHttp(post("/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"cat\"}],"
        + "\"max_completion_tokens\":" + (limit + 1) + "}"), 400, "max_completion_tokens: must be 1 to " + limit);
    HttpResponse<String> tooLong = post("/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\""
        + "a".repeat(large.info().contextLength()) + "\"}]}");
    assertHttp(tooLong, 400, "over the model's limit");
    assertThat(JSON.readTree(tooLong.body()).path("error").path("param").asText()).isEqualTo("messages[0].content");
    assertHttp(post("/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"cat\"}],"
        + "\"stream\":true}"), 400, "stream");
    assertHttp(post("/chat/completions", "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":"
        + "\"cat\"}]}"), 404, "does not exist");
  }

  @Test
  void anthropicMessagesAnswerTheLastUserMessageLikeTheModelWithAnthropicsErrors() throws Exception {
    int limit = large.info().maxNewTokensLimit();
    Generation expected = large.generate(List.of("the quick brown fox"), limit).get(0);
    HttpResponse<String> response = post("/messages", "{\"model\":\"large\",\"max_tokens\":" + limit
        + ",\"system\":\"be brief\",\"messages\":[{\"role\":\"user\",\"content\":\"a cat\"},"
        + "{\"role\":\"assistant\",\"content\":\"k a t\"},{\"role\":\"user\",\"content\":\"the quick brown fox\"}]}");
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    JsonNode body = JSON.readTree(response.body());
    assertThat(body.path("type").asText()).isEqualTo("message");
    assertThat(body.path("id").asText()).startsWith("msg_");
    assertThat(body.path("role").asText()).isEqualTo("assistant");
    assertThat(body.path("content").path(0).path("type").asText()).isEqualTo("text");
    assertThat(body.path("content").path(0).path("text").asText()).isEqualTo(expected.text());
    assertThat(body.path("stop_reason").asText()).isEqualTo(expected.tokens().length >= limit ? "max_tokens"
        : "end_turn");
    assertThat(body.path("usage").path("output_tokens").asInt()).isEqualTo(expected.tokens().length);
    assertThat(body.path("usage").path("input_tokens").asInt())
        .isEqualTo(large.promptTokens("the quick brown fox").orElseThrow());
    JsonNode two = JSON.readTree(post("/messages", "{\"messages\":[{\"role\":\"user\",\"content\":"
        + "\"the quick brown fox\"}],\"max_tokens\":2}").body());
    assertThat(two.path("content").path(0).path("text").asText())
        .isEqualTo(large.generate(List.of("the quick brown fox"), 2).get(0).text());
    assertThat(two.path("stop_reason").asText()).isEqualTo("max_tokens");
    // Errors in Anthropic's shape, naming the field.
    HttpResponse<String> noLimit = post("/messages", "{\"messages\":[{\"role\":\"user\",\"content\":\"cat\"}]}");
    assertThat(noLimit.statusCode()).isEqualTo(400);
    JsonNode error = JSON.readTree(noLimit.body());
    assertThat(error.path("type").asText()).isEqualTo("error");
    assertThat(error.path("error").path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error.path("error").path("message").asText()).startsWith("max_tokens:");
    HttpResponse<String> unknown = post("/messages", "{\"model\":\"claude\",\"max_tokens\":2,\"messages\":"
        + "[{\"role\":\"user\",\"content\":\"cat\"}]}");
    assertThat(unknown.statusCode()).isEqualTo(404);
    assertThat(JSON.readTree(unknown.body()).path("error").path("type").asText()).isEqualTo("not_found_error");
  }

  @Test
  void badOpenAiRequestsGetOpenAiErrors() throws Exception {
    int limit = large.info().maxNewTokensLimit();
    HttpResponse<String> unknownModel = post("{\"model\":\"gpt-4\",\"prompt\":\"cat\"}");
    assertHttp(unknownModel, 404, "does not exist");
    // the same request fails the same way: OpenAI's clients, which retry 5xx and some 4xx, are told not to
    assertThat(unknownModel.headers().firstValue("x-should-retry")).hasValue("false");
    assertHttp(post("{\"model\":\"large\",\"prompt\":\"cat\",\"max_tokens\":" + (limit + 1) + "}"), 400,
        "max_tokens: must be 1 to " + limit + " (the most large generates), was " + (limit + 1));
    assertHttp(post("{\"model\":\"large\",\"prompt\":\"\"}"), 400, "prompt");
    HttpResponse<String> tooLong = post("{\"model\":\"large\",\"prompt\":\"" + "a".repeat(large.info().contextLength())
        + "\"}");
    assertHttp(tooLong, 400, "over the model's limit");
    assertThat(JSON.readTree(tooLong.body()).path("error").path("code").asText()).isEqualTo("context_length_exceeded");
    assertHttp(post("{\"model\":\"large\",\"prompt\":\"cat\",\"stream\":true}"), 400, "stream");
    assertHttp(post("{\"model\":\"large\",\"prompt\":[\"a\",\"b\"]}"), 400, "one prompt");
    assertHttp(post("not json"), 400, "could not parse the JSON body");
    assertThat(JSON.readTree(post("not json").body()).path("error").path("message").asText()).doesNotContain("Source");
    assertHttp(post("{\"model\":\"large\",\"prompt\":\"cat\",\"max_tokens\":\"x\"}"), 400,
        "max_tokens: must be an integer, was a string");
    assertHttp(post("{\"model\":\"large\",\"prompt\":\"cat\",\"max_tokens\":2.7}"), 400,
        "max_tokens: must be an integer, was a number (2.7)");
    HttpResponse<String> big = post("{\"prompt\":\"" + "a".repeat(1_100_000) + "\"}");
    assertHttp(big, 413, "limit of 1000000 bytes");
    assertThat(firstLineForExpectContinue(server.httpPort(), "/v1/completions", 1_100_000)).isEqualTo("HTTP/1.1 413 Payload Too Large");
    // without Expect, a client sends the whole body before it reads: the server reads (and drops)
    // it before answering, so the answer is a 413 and a clean close, not a reset connection
    for (int i = 0; i < 5; i++) {
      String body = "{\"prompt\":\"" + "a".repeat(1_100_000) + "\"}";
      String answer = rawExchange(server.httpPort(), "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "Connection: close\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
      assertThat(answer).startsWith("HTTP/1.1 413 ").contains("limit of 1000000 bytes");
    }
    HttpResponse<String> path = HTTP.send(HttpRequest.newBuilder(URI.create(base() + "/embeddings"))
        .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
    assertHttp(path, 404, "Invalid URL (POST /v1/embeddings); this server serves POST /v1/completions, POST"
        + " /v1/chat/completions");
    assertHttp(HTTP.send(HttpRequest.newBuilder(URI.create(base() + "/models/gpt-4")).GET().build(),
        HttpResponse.BodyHandlers.ofString()), 404, "does not exist");
  }

  @Test
  void openAiErrorsHaveOpenAisShapeAndFieldsNotHonouredAreRefused() throws Exception {
    JsonNode limit = JSON.readTree(post("{\"model\":\"large\",\"prompt\":\"cat\",\"max_tokens\":0}").body()).path("error");
    assertThat(limit.path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(limit.path("param").asText()).isEqualTo("max_tokens");
    assertThat(limit.path("code").isTextual()).isTrue();
    JsonNode model = JSON.readTree(post("{\"model\":\"gpt-4\",\"prompt\":\"cat\"}").body()).path("error");
    assertThat(model.path("code").asText()).isEqualTo("model_not_found");
    assertThat(model.path("param").asText()).isEqualTo("model");
    assertHttp(post("{\"prompt\":\"cat\",\"suffix\":\"x\"}"), 400, "suffix");
    assertHttp(post("{\"prompt\":\"cat\",\"best_of\":3}"), 400, "best_of");
    assertHttp(post("{\"prompt\":\"cat\",\"temperature\":5}"), 400, "temperature: must be 0.0 to 2.0");
    assertHttp(post("{\"prompt\":\"cat\",\"stream\":\"yes\"}"), 400, "stream: must be a boolean");
    assertHttp(post("{\"prompt\":\"cat\"} trailing"), 400, "could not parse the JSON body");
    HttpResponse<String> notUtf8 = HTTP.send(HttpRequest.newBuilder(URI.create(base() + "/completions"))
        .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[] {'{', '"', 'p', '"', ':', '"', (byte) 0xff, '"', '}'}))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertHttp(notUtf8, 400, "not UTF-8 text: byte 0xFF at offset 6");
  }

  /**
   * The first line a server answers to a POST of {@code length} bytes announced with "Expect:
   * 100-continue", before any of the body is sent: "HTTP/1.1 100 Continue" when it would read it.
   */
  static String firstLineForExpectContinue(int port, String path, int length) throws Exception {
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
          + "\r\nContent-Length: " + length + "\r\nExpect: 100-continue\r\n\r\n")
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      return new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
          java.nio.charset.StandardCharsets.US_ASCII)).readLine();
    }
  }

  @Test
  void whatJettyRefusesBeforeARouteIsAnOpenAiErrorToo() throws Exception {
    String answer = rawExchange(server.httpPort(), "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nNot a header line\r\n\r\n");
    assertThat(answer).startsWith("HTTP/1.1 400 ").containsIgnoringCase("Content-Type: application/json");
    JsonNode error = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4)).path("error");
    assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error.path("code").asText()).isEqualTo("bad_request");
  }

  /** Sends {@code request} as it is and reads until the server closes the connection. */
  static String rawExchange(int port, String request) throws Exception {
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      return new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    }
  }

  private static void assertHttp(HttpResponse<String> response, int status, String message) throws Exception {
    assertThat(response.statusCode()).isEqualTo(status);
    assertThat(JSON.readTree(response.body()).path("error").path("message").asText()).contains(message);
  }

  private static String base() {
    return "http://127.0.0.1:" + server.httpPort() + "/v1";
  }

  private static HttpResponse<String> post(String body) throws Exception {
    return post("/completions", body);
  }

  private static HttpResponse<String> post(String path, String body) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(base() + path))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** A raw BYTES tensor of one element, decoded by hand as a stock client does: length (LE int32), bytes. */
  private static String rawText(ByteString raw) {
    ByteBuffer buffer = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    int length = buffer.getInt();
    assertThat(buffer.remaining()).isEqualTo(length);
    byte[] bytes = new byte[length];
    buffer.get(bytes);
    return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
  }

  private static void assertCode(Runnable call, Status.Code code, String message) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(code);
      assertThat(e.getStatus().getDescription()).contains(message);
    });
  }
}
