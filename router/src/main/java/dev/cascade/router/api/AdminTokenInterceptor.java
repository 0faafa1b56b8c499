package dev.cascade.router.api;

import dev.cascade.proto.v1.PolicyAdminGrpc;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;

/**
 * Guards PolicyAdmin's writes: {@code UpdatePolicy} and {@code PublishRule} need {@code
 * authorization: Bearer <token>} with the configured admin token, else {@code UNAUTHENTICATED}
 * before the service runs; reads are open. The comparison takes the same time wherever the tokens
 * differ.
 */
final class AdminTokenInterceptor implements ServerInterceptor {

  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  /** Who made an authorized call, for the policy's {@code updated_by}. */
  static final Context.Key<String> CALLER = Context.key("cascade-admin-caller");

  private static final Set<String> GUARDED = Set.of(PolicyAdminGrpc.getUpdatePolicyMethod().getFullMethodName(),
      PolicyAdminGrpc.getPublishRuleMethod().getFullMethodName());
  private static final String BEARER = "Bearer ";

  private final byte[] token;

  AdminTokenInterceptor(String token) {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("admin token: must not be empty");
    }
    this.token = token.getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    if (!GUARDED.contains(call.getMethodDescriptor().getFullMethodName())) {
      return next.startCall(call, headers);
    }
    String header = headers.get(AUTHORIZATION);
    if (header == null || !header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      return refuse(call, "missing 'authorization: Bearer <admin token>' metadata");
    }
    byte[] offered = header.substring(BEARER.length()).trim().getBytes(StandardCharsets.UTF_8);
    if (!MessageDigest.isEqual(offered, token)) {
      return refuse(call, "wrong admin token");
    }
    String caller = "admin@" + host(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
    AdminAudit.authorized(caller);
    Context context = Context.current().withValue(CALLER, caller);
    return Contexts.interceptCall(context, call, headers, next);
  }

  private static <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, String why) {
    call.close(Status.UNAUTHENTICATED.withDescription(why), new Metadata());
    return new ServerCall.Listener<>() {};
  }

  private static String host(SocketAddress address) {
    if (address instanceof InetSocketAddress inet) {
      return inet.getHostString();
    }
    return address == null ? "unknown" : "local";
  }
}
