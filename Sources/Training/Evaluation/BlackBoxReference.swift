import ModelFool
import ModelFoolData

/// The reference rows of the black-box explainers (KernelSHAP's background, LIME's statistics;
/// docs/METHODS.md §2.11-2.12): the training split of a catalogue data set or registered table.
enum BlackBoxReference {
  /// Attaches the training rows of `dataset` to every tabular model of `models` as its
  /// ``Model/explanationReference``, when `methods` hold a black-box method; image models need none.
  static func attach(to models: [Model], methods: [ExplanationMethod], dataset: String, datasetsRoot: String) throws {
    let tabular = models.filter { $0.inputShape.count == 1 }
    guard !tabular.isEmpty, methods.contains(where: \.isBlackBox) else { return }
    let reference = try DatasetCatalog.load(dataset, root: datasetsRoot).train.inputs
    for model in tabular { model.explanationReference = reference }
  }
}
