import Foundation
import ModelFool
import ModelFoolTraining

/// Timing of a model's inference forward pass, and of where the time goes per top-level layer,
/// for `modelfool bench forward`.
public enum ForwardBenchmark {
  /// Median milliseconds of `model` (evaluation mode, no recording) on a seeded uniform [0, 1)
  /// batch of `batch` examples of the model's input shape, after one untimed warm-up pass.
  public static func medianForwardMilliseconds(_ model: Model, batch: Int = 1, iterations: Int = 20) -> Double {
    model.setTraining(false)
    var g = SeededGenerator(seed: 0)
    let x = Tensor.randomUniform([batch] + model.inputShape, low: 0, high: 1, using: &g)
    return withoutRecording {
      _ = model(x)
      return KernelBenchmark.medianSeconds(repeats: iterations) { _ = model(x) } * 1000
    }
  }

  /// Milliseconds spent in each layer of a ``Sequential`` network (median over `iterations`),
  /// descending one level into `Sequential` children named in `expand` (e.g. `_blocks`), and the
  /// share of time in depthwise convolutions (``Conv2D`` with `groups == inputChannels > 1`),
  /// measured by timing every conv of the model on its own input (`convs`: each conv's time).
  public static func profile(_ model: Model, iterations: Int = 10) -> (
    layers: [(name: String, ms: Double)], convs: [(name: String, ms: Double)], depthwiseMs: Double, convMs: Double
  ) {
    model.setTraining(false)
    var g = SeededGenerator(seed: 0)
    let x = Tensor.randomUniform([1] + model.inputShape, low: 0, high: 1, using: &g)
    var rows: [(String, Double)] = []
    var depthwise = 0.0, dense = 0.0
    var convRows: [(String, Double)] = []
    let convNames = model.namedLayers().filter { $0.layer is Conv2D }.map(\.name)
    withoutRecording {
      guard let net = model.network as? Sequential else { return }
      var h = x
      for (name, layer) in net.children {
        let input = h
        let t = KernelBenchmark.medianSeconds(repeats: iterations) { _ = layer(input) } * 1000
        rows.append((name, t))
        h = layer(input)
      }
      let inputs = (try? model.forward(x, capturingInputsOf: Set(convNames)).captured) ?? [:]
      for name in convNames {
        guard let conv = (try? model.layer(named: name)) as? Conv2D, let input = inputs[name] else { continue }
        let t = KernelBenchmark.medianSeconds(repeats: iterations) { _ = conv(input) } * 1000
        convRows.append((name, t))
        if conv.groups > 1 && conv.groups == conv.inputChannels { depthwise += t } else { dense += t }
      }
    }
    return (rows, convRows, depthwise, dense)
  }
}
