/// A network with the metadata needed to rebuild, feed and explain it.
///
/// `Model` is itself a ``Layer`` whose children and parameters are those of ``network``, so
/// parameter names (`features.0.weight`), layer names, activation capture, mode switches and
/// `deepCopy()` work on the model exactly as on its network.
public final class Model: Layer, ModeDependentLayer, @unchecked Sendable {
  /// The root layer.
  public let network: any Layer
  /// Zoo architecture name (`digits-cnn`, `resnet50`, ...); with ``config`` it rebuilds the network
  /// through ``ModelZoo/build(architecture:options:)``.
  public let architecture: String
  /// The builder options the network was built with (e.g. `["classes": "10", "seed": "0"]`).
  public internal(set) var config: [String: String]
  /// Shape of one input without the batch axis (`[1, 28, 28]`, `[3, 224, 224]`, `[108]`).
  public var inputShape: [Int]
  /// Class names, index = logit position (may be empty when unknown).
  public var classNames: [String]
  /// Names of the input columns of a tabular model (empty for images).
  public var featureNames: [String]
  /// Feature groups of a tabular model as JSON (a list of `{name, start, width, ...}` objects as
  /// written by ModelFoolData), or `""`.
  public var featureGroupsJSON: String
  /// What the data pipeline must do before calling the model (e.g. `scale=1/255`); any
  /// normalisation listed as "inside model" is done by the network itself.
  public var preprocessing: String
  /// Default layer for Grad-CAM and the "_T" explanations: the explained activation is the
  /// *input* of this layer (see ``Layer/forward(_:capturingInputsOf:)``).
  public var targetLayer: String
  /// Reference rows `[R, D]` of a tabular model (its training split) from which the black-box
  /// explainers (``ExplanationMethod/isBlackBox``) draw their background; set by whoever loads the
  /// model with its data, kept by ``deepCopy()``, never saved in checkpoints.
  public var explanationReference: Tensor?

  /// A model around `network` with the given metadata.
  public init(
    network: any Layer, architecture: String, config: [String: String] = [:], inputShape: [Int],
    classNames: [String] = [], featureNames: [String] = [], featureGroupsJSON: String = "",
    preprocessing: String = "", targetLayer: String = ""
  ) {
    self.network = network
    self.architecture = architecture
    self.config = config
    self.inputShape = inputShape
    self.classNames = classNames
    self.featureNames = featureNames
    self.featureGroupsJSON = featureGroupsJSON
    self.preprocessing = preprocessing
    self.targetLayer = targetLayer
  }

  /// The logits for a batch `[N] + inputShape`.
  public func callAsFunction(_ x: Tensor) -> Tensor { network(x) }

  public var children: [(name: String, layer: any Layer)] { network.children }
  public var localParameters: [(name: String, parameter: Parameter)] { network.localParameters }

  /// The network's mode when it is itself mode-dependent; otherwise ignored (its descendants are
  /// switched by ``Layer/setTraining(_:)``).
  public var isTraining: Bool {
    get { (network as? any ModeDependentLayer)?.isTraining ?? false }
    set { if let m = network as? any ModeDependentLayer { m.isTraining = newValue } }
  }

  public func deepCopy() -> Model {
    let copy = Model(
      network: network.deepCopy(), architecture: architecture, config: config, inputShape: inputShape,
      classNames: classNames, featureNames: featureNames, featureGroupsJSON: featureGroupsJSON,
      preprocessing: preprocessing, targetLayer: targetLayer)
    copy.explanationReference = explanationReference
    return copy
  }
}
