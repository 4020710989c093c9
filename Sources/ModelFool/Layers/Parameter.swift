/// A named tensor owned by a layer: a trainable weight or a non-trainable buffer.
///
/// Parameters are reference types so that optimisers update them in place and a name lookup
/// (`model.namedParameters()`) hands out the very object the layer reads. A trainable parameter
/// keeps its value as a *graph leaf*: every assignment stores `newValue.detached().variable()`, so
/// `gradients(of: loss, withRespectTo: model.trainableParameters().map(\.value))` works without any
/// set-up. Buffers (BatchNorm's `running_mean`, `running_var`, `num_batches_tracked`) are
/// parameters with `isTrainable == false`; their value is stored as a constant (detached), so no
/// gradient ever flows into them and the checkpoint code can treat both kinds alike.
public final class Parameter: @unchecked Sendable {
  /// False for buffers (running statistics), which optimisers must skip.
  public let isTrainable: Bool
  private var stored: Tensor

  /// The current value. Assigning cuts any graph history: trainable values become fresh leaves,
  /// buffers become constants.
  public var value: Tensor {
    get { stored }
    set { stored = Parameter.normalize(newValue, trainable: isTrainable) }
  }

  /// Shape of the value.
  public var shape: [Int] { stored.shape }
  /// Number of scalars.
  public var count: Int { stored.count }

  /// A parameter (or buffer, when `isTrainable` is false) holding `value`.
  public init(_ value: Tensor, isTrainable: Bool = true) {
    self.isTrainable = isTrainable
    stored = Parameter.normalize(value, trainable: isTrainable)
  }

  /// Replaces the value after checking that the shape is unchanged (for checkpoint loading).
  ///
  /// - Throws: ``LayerError`` naming both shapes (and `name`, when given) if they differ.
  public func load(_ newValue: Tensor, name: String = "parameter") throws {
    guard newValue.shape == shape else {
      throw LayerError("\(name): expected shape \(shape), got \(newValue.shape)")
    }
    value = newValue
  }

  /// Rewrites the values in place through `body`, which gets the elements; the parameter stays a
  /// fresh leaf (or constant). When another tensor shares the storage (a recorded graph still
  /// alive, a tensor read from `value`), the values are copied first and the sharer keeps the old
  /// ones. An optimiser's update then needs no second buffer the size of the parameter.
  public func updateInPlace(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
    stored.withUnsafeMutableScalars(body)
    stored = Parameter.normalize(stored, trainable: isTrainable)
  }

  /// An independent parameter with a copy of the values (own storage, so in-place writes through
  /// `storage.pointer` on one never show in the other).
  public func copy() -> Parameter {
    Parameter(Tensor(shape: stored.shape, storage: stored.storage.copy()), isTrainable: isTrainable)
  }

  private static func normalize(_ t: Tensor, trainable: Bool) -> Tensor {
    trainable ? t.detached().variable() : t.detached()
  }
}

/// A one-line error from building, addressing or loading layers and models.
public struct LayerError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The message, one line, naming the layer, parameter or option at fault.
  public let message: String
  /// An error with the given one-line message.
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}
