package dev.cascade.models.server;

import io.grpc.BindableService;
import io.grpc.protobuf.services.ProtoReflectionService;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;

/**
 * gRPC server reflection, served by every cascade server in both versions of the protocol:
 * {@code grpc.reflection.v1} and {@code grpc.reflection.v1alpha}. Many stock clients (older grpcurl,
 * Postman, BloomRPC, grpc_cli builds) speak only v1alpha; grpc-java marks it deprecated in favour of
 * v1, so it is kept in this one place.
 */
public final class GrpcReflection {

  private GrpcReflection() {}

  /** Reflection as {@code grpc.reflection.v1}. */
  public static BindableService v1() {
    return ProtoReflectionServiceV1.newInstance();
  }

  /** Reflection as {@code grpc.reflection.v1alpha}. */
  @SuppressWarnings("deprecation")
  public static BindableService v1alpha() {
    return ProtoReflectionService.newInstance();
  }
}
