import ModelFool

/// The attack's view of a model: the same layer instances (same weights, same activation layers,
/// same names), with every non-overlapping, unpadded ``MaxPool2D`` inside ``Sequential`` containers
/// replaced by a ``SmoothMaxPool2D`` whose beta the attack sets. Pools inside other containers (and
/// overlapping or padded pools, as in ResNet's stem) stay exact.
public struct SmoothPoolSurrogate {
  /// The surrogate model (shares every other layer with the original).
  public let model: Model
  /// The smooth pools, in call order.
  public let pools: [SmoothMaxPool2D]

  /// Builds the surrogate of `model`; `pools` is empty when nothing could be replaced.
  public init(_ model: Model) {
    var pools: [SmoothMaxPool2D] = []
    func rebuild(_ layer: any Layer) -> any Layer {
      if let pool = layer as? MaxPool2D, pool.stride == pool.kernelSize, pool.padding == .valid {
        let smooth = SmoothMaxPool2D(kernelSize: pool.kernelSize, beta: 100)
        pools.append(smooth)
        return smooth
      }
      guard let sequential = layer as? Sequential else { return layer }
      return Sequential(named: sequential.entries.map { ($0.name, rebuild($0.layer)) })
    }
    let network = rebuild(model.network)
    self.model = Model(
      network: network, architecture: model.architecture, config: model.config, inputShape: model.inputShape,
      classNames: model.classNames, featureNames: model.featureNames, featureGroupsJSON: model.featureGroupsJSON,
      preprocessing: model.preprocessing, targetLayer: model.targetLayer)
    self.pools = pools
  }

  /// Sets the sharpness of every smooth pool.
  public func setBeta(_ beta: Float) { for p in pools { p.beta = beta } }
}
