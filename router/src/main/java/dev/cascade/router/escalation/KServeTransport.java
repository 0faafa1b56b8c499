package dev.cascade.router.escalation;

import com.google.protobuf.ByteString;
import dev.cascade.proto.kserve.GRPCInferenceServiceGrpc;
import dev.cascade.proto.kserve.InferTensorContents;
import dev.cascade.proto.kserve.ModelInferRequest;
import dev.cascade.proto.kserve.ModelInferResponse;
import dev.cascade.proto.kserve.ModelReadyRequest;
import dev.cascade.proto.kserve.ModelReadyResponse;
import dev.cascade.proto.kserve.ServerReadyRequest;
import dev.cascade.proto.kserve.ServerReadyResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import dev.cascade.models.server.KServeBytes;
import java.util.List;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * KServe v2 / Open Inference Protocol over gRPC ({@code inference.GRPCInferenceService}):
 * {@code kserve://host:port/MODEL}. One {@code ModelInfer} per escalation: the prompt as a BYTES
 * tensor of shape [1, 1] (by default {@code text_input}, as Triton's TensorRT-LLM and vLLM
 * ensembles name it), the token limit as an INT32 [1, 1] tensor ({@code max_tokens}; not sent when
 * its name is configured empty), and the answer read from the BYTES output {@code text_output},
 * whether the server sends it as {@code contents.bytes_contents} or, as Triton does by default, in
 * {@code raw_output_contents} (each element a 4-byte little-endian length and its bytes).
 *
 * <p>Readiness is {@code ServerReady} and {@code ModelReady}. The protocol has no way to say a
 * model's token limit ({@code ModelMetadata} gives tensor names, types and shapes only), so that
 * comes from {@code large.max-new-tokens} or is unknown. Token ids and log-probabilities are not
 * read: the answer is its text, and its length in tokens when the reply has an int64 parameter
 * {@code completion_tokens}, the prompt's when it has {@code prompt_tokens} (the bundled server
 * sends both).
 */
public final class KServeTransport implements LargeModelTransport {

  /**
   * The tensor names.
   *
   * @param textInput the BYTES input carrying the prompt
   * @param textOutput the BYTES output carrying the answer
   * @param maxTokensInput the INT32 input carrying the token limit; empty: not sent
   */
  public record Tensors(String textInput, String textOutput, String maxTokensInput) {
    /** Triton's TensorRT-LLM ensemble names, which the bundled server uses too. */
    public static final Tensors DEFAULT = new Tensors("text_input", "text_output", "max_tokens");
  }

  /** The response parameter in which the bundled server says how many tokens the answer is. */
  public static final String COMPLETION_TOKENS = "completion_tokens";
  /** The response parameter in which the bundled server says how many tokens the prompt was. */
  public static final String PROMPT_TOKENS = "prompt_tokens";

  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final String model;
  private final Tensors tensors;
  private final GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub;
  private final ReconnectNudge nudge;

  public KServeTransport(ManagedChannel channel, boolean ownsChannel, String model, Tensors tensors) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.model = model;
    this.tensors = tensors;
    this.stub = GRPCInferenceServiceGrpc.newStub(channel);
    this.nudge = new ReconnectNudge(channel);
  }

  /** The ModelInfer request for one prompt. */
  ModelInferRequest request(String requestId, String prompt, int maxNewTokens) {
    ModelInferRequest.Builder request = ModelInferRequest.newBuilder().setModelName(model).setId(requestId)
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName(tensors.textInput()).setDatatype("BYTES")
            .addShape(1).addShape(1)
            .setContents(InferTensorContents.newBuilder().addBytesContents(ByteString.copyFromUtf8(prompt))));
    if (!tensors.maxTokensInput().isEmpty()) {
      request.addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName(tensors.maxTokensInput())
          .setDatatype("INT32").addShape(1).addShape(1)
          .setContents(InferTensorContents.newBuilder().addIntContents(maxNewTokens)));
    }
    return request.addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName(tensors.textOutput()))
        .build();
  }

  @Override
  public CompletableFuture<Reply> generate(String requestId, String prompt, int maxNewTokens, Duration deadline) {
    CompletableFuture<ModelInferResponse> result = new CompletableFuture<>();
    stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .modelInfer(request(requestId, prompt, maxNewTokens), CascadeTransport.unary(result, nudge));
    return result.handle((response, error) -> {
      if (error != null) {
        throw TransportErrors.ofKServe(error);
      }
      return Reply.text(textOf(response, tensors.textOutput()), tokenCount(response, COMPLETION_TOKENS),
          tokenCount(response, PROMPT_TOKENS));
    });
  }

  /**
   * The text of a BYTES output: its elements' UTF-8, concatenated, from {@code contents} or from
   * the raw contents at the output's position.
   *
   * @throws io.grpc.StatusRuntimeException INTERNAL when the reply lacks the output or it is malformed
   */
  static String textOf(ModelInferResponse response, String output) {
    for (int i = 0; i < response.getOutputsCount(); i++) {
      ModelInferResponse.InferOutputTensor tensor = response.getOutputs(i);
      if (!tensor.getName().equals(output)) {
        continue;
      }
      if (!tensor.getDatatype().isEmpty() && !tensor.getDatatype().equals("BYTES")) {
        throw Status.INTERNAL.withDescription("output " + output + " is " + tensor.getDatatype() + ", not BYTES")
            .asRuntimeException();
      }
      if (i < response.getRawOutputContentsCount()) {
        List<ByteString> elements;
        try {
          elements = KServeBytes.decode(response.getRawOutputContents(i));
        } catch (IllegalArgumentException e) {
          throw Status.INTERNAL.withDescription("output " + output + ": its raw contents are " + e.getMessage())
              .asRuntimeException();
        }
        return join(elements);
      }
      return join(tensor.getContents().getBytesContentsList());
    }
    throw Status.INTERNAL.withDescription("the reply has no output named " + output + " (large.kserve.text-output)")
        .asRuntimeException();
  }

  /**
   * The reply's int64 parameter {@code name}, {@code completion_tokens} or {@code prompt_tokens}
   * (the bundled server sends both; the protocol defines neither), or -1.
   */
  static int tokenCount(ModelInferResponse response, String name) {
    var p = response.getParametersMap().get(name);
    return p != null && p.hasInt64Param() && p.getInt64Param() >= 0 && p.getInt64Param() <= Integer.MAX_VALUE
        ? (int) p.getInt64Param() : -1;
  }

  private static String join(List<ByteString> elements) {
    return ByteString.copyFrom(elements).toStringUtf8();
  }

  /** The protocol carries neither the model's token limit nor its tokenizer: no limit, and never a draft. */
  @Override
  public CompletableFuture<ServerInfo> info(Duration deadline) {
    return CompletableFuture.completedFuture(ServerInfo.UNKNOWN);
  }

  @Override
  public CompletableFuture<Boolean> ready(Duration deadline) {
    CompletableFuture<ServerReadyResponse> server = new CompletableFuture<>();
    stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .serverReady(ServerReadyRequest.getDefaultInstance(), CascadeTransport.unary(server, nudge));
    return server.thenCompose(s -> {
      if (!s.getReady()) {
        return CompletableFuture.completedFuture(false);
      }
      CompletableFuture<ModelReadyResponse> ready = new CompletableFuture<>();
      stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
          .modelReady(ModelReadyRequest.newBuilder().setName(model).build(), CascadeTransport.unary(ready, nudge));
      return ready.thenApply(ModelReadyResponse::getReady);
    });
  }

  @Override
  public String describe() {
    return "kserve://" + channel.authority() + "/" + model;
  }

  @Override
  public void close() {
    if (ownsChannel) {
      LargeModelTransports.shutdown(channel);
    }
  }
}
