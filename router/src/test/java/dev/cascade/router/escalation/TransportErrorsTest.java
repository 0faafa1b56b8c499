package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.cascade.models.server.KServeBytes;
import dev.cascade.proto.kserve.InferTensorContents;
import dev.cascade.proto.kserve.ModelInferRequest;
import dev.cascade.proto.kserve.ModelInferResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Every protocol's failures as the gRPC codes the escalator's retry, breaker and refusal rules read. */
class TransportErrorsTest {

  private static String code(Throwable e) {
    return EscalationClient.codeOf(e);
  }

  @Test
  void httpRefusalsAreRefusalsAndOverloadAndOutagesAreNot() {
    for (int status : new int[] {400, 401, 403, 404, 405, 422, 501}) {
      assertThat(EscalationClient.isRefusal(code(TransportErrors.ofHttp(status, "x")))).as("HTTP %d", status).isTrue();
    }
    assertThat(code(TransportErrors.ofHttp(400, "{\"error\":{}}"))).isEqualTo("INVALID_ARGUMENT");
    assertThat(code(TransportErrors.ofHttp(429, ""))).isEqualTo("RESOURCE_EXHAUSTED");
    assertThat(code(TransportErrors.ofHttp(503, ""))).isEqualTo("UNAVAILABLE");
    assertThat(code(TransportErrors.ofHttp(502, ""))).isEqualTo("UNAVAILABLE");
    assertThat(code(TransportErrors.ofHttp(504, ""))).isEqualTo("UNAVAILABLE");
    assertThat(code(TransportErrors.ofHttp(500, ""))).isEqualTo("INTERNAL");
    assertThat(code(TransportErrors.ofHttp(408, ""))).isEqualTo("DEADLINE_EXCEEDED");
    for (int status : new int[] {429, 500, 502, 503, 504, 408}) {
      assertThat(EscalationClient.isRefusal(code(TransportErrors.ofHttp(status, "")))).as("HTTP %d", status).isFalse();
    }
    assertThat(TransportErrors.ofHttp(400, "y".repeat(2000)).getStatus().getDescription()).hasSizeLessThan(600)
        .startsWith("HTTP 400: yyy");
  }

  @Test
  void connectionFailuresAreUnavailableAndTimeoutsDeadlineExceeded() {
    assertThat(code(TransportErrors.ofIo(new CompletionException(new ConnectException("refused")))))
        .isEqualTo("UNAVAILABLE");
    assertThat(code(TransportErrors.ofIo(new HttpConnectTimeoutException("slow")))).isEqualTo("UNAVAILABLE");
    // Java's HTTP client says an unknown host with a bare ConnectException: the description says what it is
    ConnectException unknownHost = new ConnectException();
    unknownHost.initCause(new java.nio.channels.UnresolvedAddressException());
    assertThat(TransportErrors.ofIo(new CompletionException(unknownHost)).getStatus().getDescription())
        .isEqualTo("cannot connect: the host name does not resolve (UnresolvedAddressException)");
    assertThat(TransportErrors.ofIo(new ConnectException("refused")).getStatus().getDescription())
        .isEqualTo("cannot connect: java.net.ConnectException: refused");
    assertThat(code(TransportErrors.ofIo(new java.io.IOException("reset")))).isEqualTo("UNAVAILABLE");
    assertThat(code(TransportErrors.ofIo(new HttpTimeoutException("request timed out")))).isEqualTo("DEADLINE_EXCEEDED");
    StatusRuntimeException passed = Status.INVALID_ARGUMENT.asRuntimeException();
    assertThat(TransportErrors.ofIo(passed)).isSameAs(passed);
  }

  @Test
  void kserveUnknownModelIsARefusalAndOtherCodesPassThrough() {
    assertThat(code(TransportErrors.ofKServe(Status.NOT_FOUND.withDescription("no model x").asRuntimeException())))
        .isEqualTo("FAILED_PRECONDITION");
    assertThat(code(TransportErrors.ofKServe(new CompletionException(Status.UNAVAILABLE.asRuntimeException()))))
        .isEqualTo("UNAVAILABLE");
    assertThat(code(TransportErrors.ofKServe(Status.RESOURCE_EXHAUSTED.asRuntimeException())))
        .isEqualTo("RESOURCE_EXHAUSTED");
  }

  @Test
  void kserveRequestsCarryTheConfiguredTensors() {
    KServeTransport transport = new KServeTransport(
        io.grpc.inprocess.InProcessChannelBuilder.forName("unused").build(), true, "ensemble",
        new KServeTransport.Tensors("prompt", "answer", "max_new"));
    try {
      ModelInferRequest request = transport.request("r1", "the cat", 12);
      assertThat(request.getModelName()).isEqualTo("ensemble");
      assertThat(request.getId()).isEqualTo("r1");
      assertThat(request.getInputs(0).getName()).isEqualTo("prompt");
      assertThat(request.getInputs(0).getDatatype()).isEqualTo("BYTES");
      assertThat(request.getInputs(0).getShapeList()).containsExactly(1L, 1L);
      assertThat(request.getInputs(0).getContents().getBytesContents(0).toStringUtf8()).isEqualTo("the cat");
      assertThat(request.getInputs(1).getName()).isEqualTo("max_new");
      assertThat(request.getInputs(1).getDatatype()).isEqualTo("INT32");
      assertThat(request.getInputs(1).getContents().getIntContentsList()).containsExactly(12);
      assertThat(request.getOutputs(0).getName()).isEqualTo("answer");
    } finally {
      transport.close();
    }
    KServeTransport noLimit = new KServeTransport(io.grpc.inprocess.InProcessChannelBuilder.forName("unused").build(),
        true, "m", new KServeTransport.Tensors("text_input", "text_output", ""));
    try {
      assertThat(noLimit.request("r", "p", 5).getInputsCount()).isEqualTo(1);
    } finally {
      noLimit.close();
    }
  }

  @Test
  void kserveAnswersAreReadRawAsTritonSendsThemOrFromContents() {
    ModelInferResponse.InferOutputTensor other = ModelInferResponse.InferOutputTensor.newBuilder().setName("ids")
        .setDatatype("INT32").build();
    ModelInferResponse.InferOutputTensor text = ModelInferResponse.InferOutputTensor.newBuilder().setName("text_output")
        .setDatatype("BYTES").addShape(1).addShape(1).build();
    ModelInferResponse raw = ModelInferResponse.newBuilder().addOutputs(other).addOutputs(text)
        .addRawOutputContents(ByteString.copyFrom(new byte[] {1, 0, 0, 0}))
        .addRawOutputContents(KServeBytes.encode(List.of("na\u00efve caf\u00e9"))).build();
    assertThat(KServeTransport.textOf(raw, "text_output")).isEqualTo("na\u00efve caf\u00e9");
    // The 4-byte little-endian length prefix, byte for byte.
    assertThat(KServeBytes.encode(List.of("ab")).toByteArray()).containsExactly(2, 0, 0, 0, 'a', 'b');
    ModelInferResponse contents = ModelInferResponse.newBuilder().addOutputs(text.toBuilder()
        .setContents(InferTensorContents.newBuilder().addBytesContents(ByteString.copyFromUtf8("dog")))).build();
    assertThat(KServeTransport.textOf(contents, "text_output")).isEqualTo("dog");
    assertThatThrownBy(() -> KServeTransport.textOf(contents, "output"))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL))
        .hasMessageContaining("no output named output");
    ModelInferResponse truncated = ModelInferResponse.newBuilder().addOutputs(text)
        .addRawOutputContents(ByteString.copyFrom(new byte[] {9, 0, 0, 0, 'a'})).build();
    assertThatThrownBy(() -> KServeTransport.textOf(truncated, "text_output")).hasMessageContaining("runs past the end");
  }

  @Test
  void openaiRequestsAreGreedyAndAnswersComeFromTheFirstChoice() throws Exception {
    ObjectMapper json = new ObjectMapper();
    OpenAiTransport transport = new OpenAiTransport(java.net.URI.create("http://127.0.0.1:1/v1"), "m", "", null);
    try {
      var body = json.readTree(transport.body("the cat", 7));
      assertThat(body.path("model").asText()).isEqualTo("m");
      assertThat(body.path("prompt").asText()).isEqualTo("the cat");
      assertThat(body.path("max_tokens").asInt()).isEqualTo(7);
      assertThat(body.path("temperature").asDouble()).isZero();
      assertThat(body.path("stream").asBoolean()).isFalse();
    } finally {
      transport.close();
    }
    assertThat(OpenAiTransport.textOf(json.readTree("{\"choices\":[{\"index\":0,\"text\":\" dog\"}]}")))
        .isEqualTo(" dog");
    assertThatThrownBy(() -> OpenAiTransport.textOf(json.readTree("{\"choices\":[]}")))
        .hasMessageContaining("choices[0].text");
  }
}
