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
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * KServe v2 / Open Inference Protocol ({@code inference.GRPCInferenceService}) for the served
 * model, named as the model is ({@code large} for the bundled one), version {@code 1}. It takes
 * the tensors Triton's TensorRT-LLM ensemble takes: a BYTES {@code text_input} holding one prompt
 * (shape [1] or [1, 1]; in {@code contents.bytes_contents} or {@code raw_input_contents}) and an
 * optional INT32 {@code max_tokens} (the model's limit when absent); it answers with a BYTES
 * {@code text_output} of shape [1, 1] in {@code raw_output_contents}, as Triton does (a 4-byte
 * little-endian length, then the UTF-8 text), and the answer's token count as the response
 * parameter {@code completion_tokens} (int64). Errors: an unknown model is NOT_FOUND, a bad tensor
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
    reply(responses, ModelReadyResponse.newBuilder()
        .setReady(ready.getAsBoolean() && serves(request.getName(), request.getVersion())).build());
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
    // Batched as Triton reports it: any number of rows, one element each.
    return ModelMetadataResponse.TensorMetadata.newBuilder().setName(name).setDatatype(datatype)
        .addShape(-1).addShape(1).build();
  }

  @Override
  public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> responses) {
    if (!serves(request.getModelName(), request.getModelVersion())) {
      responses.onError(unknownModel(request.getModelName(), request.getModelVersion()));
      return;
    }
    String prompt;
    int maxTokens;
    try {
      prompt = prompt(request);
      maxTokens = maxTokens(request);
      for (ModelInferRequest.InferRequestedOutputTensor output : request.getOutputsList()) {
        if (!output.getName().equals(TEXT_OUTPUT)) {
          throw invalid("outputs: unknown output '" + output.getName() + "' (the model has " + TEXT_OUTPUT + ")");
        }
      }
    } catch (StatusRuntimeException e) {
      responses.onError(generations.invalid(e.getStatus().getDescription()));
      return;
    }
    var problem = generations.problem(prompt, maxTokens, TEXT_INPUT, MAX_TOKENS);
    if (problem.isPresent()) {
      responses.onError(generations.invalid(problem.get()));
      return;
    }
    Context context = Context.current();
    generations.submit(request.getId(), prompt, maxTokens, context::isCancelled).whenComplete((result, error) -> {
      if (error != null) {
        responses.onError(Status.fromThrowable(error).asRuntimeException());
        return;
      }
      responses.onNext(ModelInferResponse.newBuilder()
          .setModelName(model())
          .setModelVersion(VERSION)
          .setId(request.getId())
          .addOutputs(ModelInferResponse.InferOutputTensor.newBuilder().setName(TEXT_OUTPUT).setDatatype("BYTES")
              .addShape(1).addShape(1))
          .addRawOutputContents(KServeBytes.encode(List.of(result.generation().text())))
          // Not in the protocol: how many tokens the answer is, for a caller's cost accounting.
          .putParameters("completion_tokens", InferParameter.newBuilder()
              .setInt64Param(result.generation().tokens().length).build())
          .build());
      responses.onCompleted();
    });
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
    List<ByteString> elements;
    if (request.getRawInputContentsCount() > 0) {
      if (index >= request.getRawInputContentsCount()) {
        throw invalid("raw_input_contents: " + request.getRawInputContentsCount() + " for " + request.getInputsCount()
            + " inputs");
      }
      try {
        elements = KServeBytes.decode(request.getRawInputContents(index));
      } catch (IllegalArgumentException e) {
        throw invalid(TEXT_INPUT + ": " + e.getMessage());
      }
    } else {
      elements = tensor.getContents().getBytesContentsList();
    }
    if (elements.size() != 1 || elements(tensor) != 1) {
      throw invalid(TEXT_INPUT + ": one prompt per call (shape [1] or [1, 1]), got " + elements.size()
          + " elements of shape " + tensor.getShapeList());
    }
    return elements.get(0).toStringUtf8();
  }

  /** The {@code max_tokens} tensor's one value, or the model's limit when absent. */
  private int maxTokens(ModelInferRequest request) {
    int index = indexOf(request, MAX_TOKENS);
    if (index < 0) {
      return generations.generator().info().maxNewTokensLimit();
    }
    ModelInferRequest.InferInputTensor tensor = request.getInputs(index);
    if (elements(tensor) != 1) {
      throw invalid(MAX_TOKENS + ": one value (shape [1] or [1, 1]), got shape " + tensor.getShapeList());
    }
    if (request.getRawInputContentsCount() > index) {
      ByteBuffer raw = request.getRawInputContents(index).asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      return switch (tensor.getDatatype()) {
        case "INT32" -> raw.remaining() == 4 ? raw.getInt() : badRaw();
        case "INT64" -> raw.remaining() == 8 ? Math.toIntExact(Math.max(Integer.MIN_VALUE,
            Math.min(Integer.MAX_VALUE, raw.getLong()))) : badRaw();
        default -> throw invalid(MAX_TOKENS + ": must be INT32 or INT64, was " + tensor.getDatatype());
      };
    }
    InferTensorContents contents = tensor.getContents();
    return switch (tensor.getDatatype()) {
      case "INT32" -> contents.getIntContentsCount() == 1 ? contents.getIntContents(0) : badCount();
      case "INT64" -> contents.getInt64ContentsCount() == 1
          ? (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, contents.getInt64Contents(0))) : badCount();
      default -> throw invalid(MAX_TOKENS + ": must be INT32 or INT64, was " + tensor.getDatatype());
    };
  }

  private static int badRaw() {
    throw invalid(MAX_TOKENS + ": raw contents must hold exactly one value");
  }

  private static int badCount() {
    throw invalid(MAX_TOKENS + ": contents must hold exactly one value");
  }

  private static long elements(ModelInferRequest.InferInputTensor tensor) {
    long n = 1;
    for (long d : tensor.getShapeList()) {
      n *= d;
    }
    return n;
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
