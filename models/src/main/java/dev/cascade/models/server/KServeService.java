package dev.cascade.models.server;

import com.google.protobuf.ByteString;
import dev.cascade.models.ModelInfo;
import dev.cascade.proto.kserve.GRPCInferenceServiceGrpc;
import dev.cascade.proto.kserve.InferParameter;
import dev.cascade.proto.kserve.InferTensorContents;
import dev.cascade.proto.kserve.ModelInferRequest;
import dev.cascade.proto.kserve.ModelInferResponse;
import dev.cascade.proto.kserve.ModelMetadataRequest;
import dev.cascade.proto.kserve.ModelMetadataResponse;
import dev.cascade.proto.kserve.ModelReadyRequest;
import dev.cascade.proto.kserve.ModelReadyResponse;
import dev.cascade.proto.kserve.ServerLiveRequest;
import dev.cascade.proto.kserve.ServerLiveResponse;
import dev.cascade.proto.kserve.ServerMetadataRequest;
import dev.cascade.proto.kserve.ServerMetadataResponse;
import dev.cascade.proto.kserve.ServerReadyRequest;
import dev.cascade.proto.kserve.ServerReadyResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * KServe v2 / Open Inference Protocol ({@code inference.GRPCInferenceService}) for the served
 * model, named as the model is ({@code large} for the bundled one), version {@code 1}. It takes
 * the tensors Triton's TensorRT-LLM ensemble takes: a BYTES {@code text_input} holding one UTF-8
 * prompt (shape [1] or [1, 1]; in {@code contents.bytes_contents} or {@code raw_input_contents}) and
 * an optional INT32 (or INT64) {@code max_tokens} of the same shape (the model's limit when absent);
 * nothing else, each input once, and, as the protocol says, either {@code contents} in the inputs or
 * one {@code raw_input_contents} entry per input, never both. It answers with a BYTES
 * {@code text_output} of shape [1, 1] in {@code raw_output_contents}, as Triton does (a 4-byte
 * little-endian length, then the UTF-8 text), and the answer's token count as the response
 * parameter {@code completion_tokens} (int64), the prompt's as {@code prompt_tokens} (int64; when the
 * model can count it). Errors: an unknown model (or version) is NOT_FOUND, in ModelReady too, a bad tensor
 * INVALID_ARGUMENT, a full server RESOURCE_EXHAUSTED, as on {@code cascade.v1.LargeModel}.
 */
final class KServeService extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {

  static final String TEXT_INPUT = "text_input";
  static final String MAX_TOKENS = "max_tokens";
  static final String TEXT_OUTPUT = "text_output";
  static final String VERSION = "1";

  private final Generations generations;
  private final BooleanSupplier ready;

  KServeService(Generations generations, BooleanSupplier ready) {
    this.generations = generations;
    this.ready = ready;
  }

  private String model() {
    return generations.generator().info().name();
  }

  private boolean serves(String name, String version) {
    return name.equals(model()) && (version.isEmpty() || version.equals(VERSION));
  }

  @Override
  public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> responses) {
    reply(responses, ServerLiveResponse.newBuilder().setLive(true).build());
  }

  @Override
  public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> responses) {
    reply(responses, ServerReadyResponse.newBuilder().setReady(ready.getAsBoolean()).build());
  }

  @Override
  public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> responses) {
    // An unknown model or version is NOT_FOUND, as in ModelMetadata and ModelInfer (and Triton): a
    // name mistyped in a client's target is an error it sees, not "not ready" it would poll forever.
    if (!serves(request.getName(), request.getVersion())) {
      responses.onError(unknownModel(request.getName(), request.getVersion()));
      return;
    }
    reply(responses, ModelReadyResponse.newBuilder().setReady(ready.getAsBoolean()).build());
  }

  @Override
  public void serverMetadata(ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> responses) {
    reply(responses, ServerMetadataResponse.newBuilder().setName("cascade-large-model").setVersion("v2").build());
  }

  @Override
  public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> responses) {
    if (!serves(request.getName(), request.getVersion())) {
      responses.onError(unknownModel(request.getName(), request.getVersion()));
      return;
    }
    ModelInfo info = generations.generator().info();
    reply(responses, ModelMetadataResponse.newBuilder()
        .setName(info.name())
        .addVersions(VERSION)
        .setPlatform("cascade_" + info.engine().toLowerCase(java.util.Locale.ROOT))
        .addInputs(tensor(TEXT_INPUT, "BYTES"))
        .addInputs(tensor(MAX_TOKENS, "INT32"))
        .addOutputs(tensor(TEXT_OUTPUT, "BYTES"))
        .build());
  }

  private static ModelMetadataResponse.TensorMetadata tensor(String name, String datatype) {
    // One row of one element, the shape Triton's ensembles are sent; [1] is taken too (checkShape).
    return ModelMetadataResponse.TensorMetadata.newBuilder().setName(name).setDatatype(datatype)
        .addShape(1).addShape(1).build();
  }

  @Override
  public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> responses) {
    if (!serves(request.getModelName(), request.getModelVersion())) {
      responses.onError(unknownModel(request.getModelName(), request.getModelVersion()));
      return;
    }
    String prompt;
    long maxTokens;
    try {
      checkInputs(request);
      for (ModelInferRequest.InferRequestedOutputTensor output : request.getOutputsList()) {
        if (!output.getName().equals(TEXT_OUTPUT)) {
          throw invalid("outputs: unknown output '" + output.getName() + "' (the model has " + TEXT_OUTPUT + ")");
        }
      }
      prompt = prompt(request);
      maxTokens = maxTokens(request);
    } catch (StatusRuntimeException e) {
      responses.onError(generations.invalid(e.getStatus().getDescription()));
      return;
    }
    // An INT64 beyond int's range is outside the limit too, said with the value the caller sent.
    boolean fits = maxTokens >= Integer.MIN_VALUE && maxTokens <= Integer.MAX_VALUE;
    var problem = generations.problem(prompt, fits ? (int) maxTokens : 1, TEXT_INPUT, MAX_TOKENS);
    if (problem.isEmpty() && !fits) {
      problem = Optional.of(MAX_TOKENS + ": " + maxTokens + " is outside 1.."
          + generations.generator().info().maxNewTokensLimit());
    }
    if (problem.isPresent()) {
      responses.onError(generations.invalid(problem.get()));
      return;
    }
    Context context = Context.current();
    generations.submit(request.getId(), prompt, (int) maxTokens, context::isCancelled).whenComplete((result, error) -> {
      if (error != null) {
        responses.onError(Status.fromThrowable(error).asRuntimeException());
        return;
      }
      ModelInferResponse.Builder response = ModelInferResponse.newBuilder()
          .setModelName(model())
          .setModelVersion(VERSION)
          .setId(request.getId())
          .addOutputs(ModelInferResponse.InferOutputTensor.newBuilder().setName(TEXT_OUTPUT).setDatatype("BYTES")
              .addShape(1).addShape(1))
          .addRawOutputContents(KServeBytes.encode(List.of(result.generation().text())))
          // Not in the protocol: how many tokens the answer and the prompt are, for a caller's usage and
          // cost accounting.
          .putParameters("completion_tokens", InferParameter.newBuilder()
              .setInt64Param(result.generation().tokens().length).build());
      generations.generator().promptTokens(prompt).ifPresent(n -> response.putParameters("prompt_tokens",
          InferParameter.newBuilder().setInt64Param(n).build()));
      responses.onNext(response.build());
      responses.onCompleted();
    });
  }

  /**
   * What the protocol and the model's metadata require of the inputs as a whole: each named once,
   * each one the model has, and, when {@code raw_input_contents} is used, one entry per input and
   * no input with {@code contents} as well.
   */
  private static void checkInputs(ModelInferRequest request) {
    Set<String> seen = new HashSet<>();
    for (ModelInferRequest.InferInputTensor input : request.getInputsList()) {
      String name = input.getName();
      if (!name.equals(TEXT_INPUT) && !name.equals(MAX_TOKENS)) {
        throw invalid("inputs: unknown input '" + name + "' (the model has " + TEXT_INPUT + " and " + MAX_TOKENS
            + ")");
      }
      if (!seen.add(name)) {
        throw invalid(name + ": given more than once in inputs");
      }
    }
    int raw = request.getRawInputContentsCount();
    if (raw == 0) {
      return;
    }
    if (raw != request.getInputsCount()) {
      throw invalid("raw_input_contents: " + raw + (raw == 1 ? " entry" : " entries") + " for "
          + request.getInputsCount() + (request.getInputsCount() == 1 ? " input" : " inputs")
          + " (when used, one per input, in the order of inputs)");
    }
    for (ModelInferRequest.InferInputTensor input : request.getInputsList()) {
      if (input.hasContents()) {
        throw invalid(input.getName() + ": both contents and raw_input_contents given (a request carries its"
            + " tensors' data in one or the other)");
      }
    }
  }

  /** The one prompt of the {@code text_input} tensor. */
  private static String prompt(ModelInferRequest request) {
    int index = indexOf(request, TEXT_INPUT);
    if (index < 0) {
      throw invalid(TEXT_INPUT + ": missing (a BYTES tensor holding the prompt)");
    }
    ModelInferRequest.InferInputTensor tensor = request.getInputs(index);
    if (!tensor.getDatatype().equals("BYTES")) {
      throw invalid(TEXT_INPUT + ": must be BYTES, was " + tensor.getDatatype());
    }
    checkShape(tensor, "one prompt per call");
    List<ByteString> elements;
    if (request.getRawInputContentsCount() > 0) {
      try {
        elements = KServeBytes.decode(request.getRawInputContents(index));
      } catch (IllegalArgumentException e) {
        throw invalid(TEXT_INPUT + ": its raw contents (raw_input_contents[" + index + "]) are " + e.getMessage());
      }
    } else {
      elements = tensor.getContents().getBytesContentsList();
    }
    if (elements.size() != 1) {
      throw invalid(TEXT_INPUT + ": one prompt per call, got " + elements.size() + " elements");
    }
    return utf8(elements.get(0));
  }

  /** The prompt's text; INVALID_ARGUMENT naming where it stops being UTF-8 when it is not. */
  private static String utf8(ByteString bytes) {
    if (bytes.isValidUtf8()) {
      return bytes.toStringUtf8();
    }
    ByteBuffer in = bytes.asReadOnlyByteBuffer();
    CharBuffer out = CharBuffer.allocate(bytes.size());
    CoderResult result = StandardCharsets.UTF_8.newDecoder().decode(in, out, true);
    if (!result.isError()) {
      return out.flip().toString();
    }
    int at = in.position();
    StringBuilder found = new StringBuilder();
    for (int i = 0; i < result.length(); i++) {
      found.append(i == 0 ? "" : " ").append(String.format("0x%02X", bytes.byteAt(at + i) & 0xff));
    }
    throw invalid(TEXT_INPUT + ": the prompt is not UTF-8: " + (result.length() == 1 ? "byte " : "bytes ") + found
        + " at offset " + at + " (of " + bytes.size() + ") " + (result.length() == 1 ? "is" : "are")
        + " not a UTF-8 character");
  }

  /** The {@code max_tokens} tensor's one value as sent, or the model's limit when absent. */
  private long maxTokens(ModelInferRequest request) {
    int index = indexOf(request, MAX_TOKENS);
    if (index < 0) {
      return generations.generator().info().maxNewTokensLimit();
    }
    ModelInferRequest.InferInputTensor tensor = request.getInputs(index);
    String datatype = tensor.getDatatype();
    if (!datatype.equals("INT32") && !datatype.equals("INT64")) {
      throw invalid(MAX_TOKENS + ": must be INT32 or INT64, was " + datatype);
    }
    checkShape(tensor, "one value");
    boolean int32 = datatype.equals("INT32");
    if (request.getRawInputContentsCount() > 0) {
      ByteString raw = request.getRawInputContents(index);
      int width = int32 ? 4 : 8;
      if (raw.size() != width) {
        throw invalid(MAX_TOKENS + ": its raw contents (raw_input_contents[" + index + "]) must be one " + datatype
            + " (" + width + " bytes, little-endian), were " + raw.size() + " bytes");
      }
      ByteBuffer buffer = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      return int32 ? buffer.getInt() : buffer.getLong();
    }
    InferTensorContents contents = tensor.getContents();
    int count = int32 ? contents.getIntContentsCount() : contents.getInt64ContentsCount();
    if (count != 1) {
      throw invalid(MAX_TOKENS + ": contents must hold exactly one value in " + (int32 ? "int_contents" : "int64_contents")
          + " (as its datatype " + datatype + " says), held " + count);
    }
    return int32 ? contents.getIntContents(0) : contents.getInt64Contents(0);
  }

  /** Refuses any shape but the two that hold one element: [1] and [1, 1] (what the metadata reports). */
  private static void checkShape(ModelInferRequest.InferInputTensor tensor, String what) {
    List<Long> shape = tensor.getShapeList();
    if (!shape.equals(List.of(1L)) && !shape.equals(List.of(1L, 1L))) {
      throw invalid(tensor.getName() + ": shape must be [1] or [1, 1] (" + what + "), was " + shape);
    }
  }

  private static int indexOf(ModelInferRequest request, String name) {
    for (int i = 0; i < request.getInputsCount(); i++) {
      if (request.getInputs(i).getName().equals(name)) {
        return i;
      }
    }
    return -1;
  }

  private StatusRuntimeException unknownModel(String name, String version) {
    return Status.NOT_FOUND.withDescription("unknown model '" + name + "'" + (version.isEmpty() ? "" : " version "
        + version) + "; this server serves '" + model() + "' version " + VERSION).asRuntimeException();
  }

  private static StatusRuntimeException invalid(String message) {
    return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
  }

  private static <T> void reply(StreamObserver<T> responses, T value) {
    responses.onNext(value);
    responses.onCompleted();
  }
}
