package dev.cascade.proto.v1;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Contract test of the generated stubs: each service is served and called over an in-process
 * channel by fixed-data implementations, so a change to a message or a method name breaks here.
 */
class ContractTest {

  private Server server;
  private ManagedChannel channel;
  private final List<Policy> published = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).directExecutor()
        .addService(new FixedCascade())
        .addService(new FixedPolicyAdmin())
        .addService(new FixedLargeModel())
        .build().start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    server.shutdownNow();
  }

  @Test
  void cascadeGenerateCarriesEveryField() {
    GenerateResponse response = CascadeGrpc.newBlockingStub(channel).generate(GenerateRequest.newBuilder()
        .setPrompt("hello").setMaxNewTokens(12).setRequestId("r-1").putMetadata("tenant", "t1").build());
    assertThat(response.getRequestId()).isEqualTo("r-1");
    assertThat(response.getText()).isEqualTo("HELLO/t1/12");
    assertThat(response.getServedBy()).isEqualTo(ServedBy.LARGE);
    assertThat(response.getDeferralScore()).isEqualTo(2.5);
    assertThat(response.getThreshold()).isEqualTo(1.0);
    assertThat(response.getPolicyVersion()).isEqualTo(7);
    assertThat(response.getLatencies().getTotalMs()).isEqualTo(3.0);
  }

  @Test
  void policyAdminUpdateIsSeenByGetAndWatch() {
    PolicyAdminGrpc.PolicyAdminBlockingStub admin = PolicyAdminGrpc.newBlockingStub(channel);
    Policy updated = admin.updatePolicy(UpdatePolicyRequest.newBuilder()
        .setPolicy(Policy.newBuilder().setRule("chow-quantile").setAlpha(0.1).setThreshold(0.7).setReason("test")).build());
    assertThat(updated.getVersion()).isEqualTo(1);
    assertThat(admin.getPolicy(GetPolicyRequest.getDefaultInstance()).getThreshold()).isEqualTo(0.7);
    Iterator<Policy> watched = admin.watchPolicy(WatchPolicyRequest.newBuilder().setIncludeCurrent(true).build());
    assertThat(watched.next().getRule()).isEqualTo("chow-quantile");
  }

  @Test
  void largeModelReturnsAlignedTokensAndLogprobs() {
    LargeGenerateResponse response = LargeModelGrpc.newBlockingStub(channel)
        .generate(LargeGenerateRequest.newBuilder().setPrompt("ab").setMaxNewTokens(4).build());
    assertThat(response.getText()).isEqualTo("a b");
    assertThat(response.getTokensList()).containsExactly(1, 2);
    assertThat(response.getTokenLogprobsList()).hasSize(response.getTokensCount());
  }

  private static final class FixedCascade extends CascadeGrpc.CascadeImplBase {
    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
      out.onNext(GenerateResponse.newBuilder()
          .setRequestId(request.getRequestId())
          .setText(request.getPrompt().toUpperCase() + "/" + request.getMetadataOrThrow("tenant") + "/" + request.getMaxNewTokens())
          .setServedBy(ServedBy.LARGE).setDeferralScore(2.5).setThreshold(1.0).setPolicyVersion(7).setRule("chow-sum")
          .setLatencies(StageLatencies.newBuilder().setTotalMs(3.0)).build());
      out.onCompleted();
    }
  }

  private final class FixedPolicyAdmin extends PolicyAdminGrpc.PolicyAdminImplBase {
    @Override
    public void getPolicy(GetPolicyRequest request, StreamObserver<Policy> out) {
      out.onNext(published.get(published.size() - 1));
      out.onCompleted();
    }

    @Override
    public void updatePolicy(UpdatePolicyRequest request, StreamObserver<Policy> out) {
      Policy p = request.getPolicy().toBuilder().setVersion(published.size() + 1).build();
      published.add(p);
      out.onNext(p);
      out.onCompleted();
    }

    @Override
    public void watchPolicy(WatchPolicyRequest request, StreamObserver<Policy> out) {
      if (request.getIncludeCurrent()) {
        out.onNext(published.get(published.size() - 1));
      }
      out.onCompleted();
    }
  }

  private static final class FixedLargeModel extends LargeModelGrpc.LargeModelImplBase {
    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      out.onNext(LargeGenerateResponse.newBuilder().setText("a b").addTokens(1).addTokens(2)
          .addTokenLogprobs(-0.1f).addTokenLogprobs(-0.2f).setModel("fixed").build());
      out.onCompleted();
    }
  }
}
