/// What a data set means beyond its rows: the defaults every command takes from it. One value per
/// catalogue entry (``DatasetCatalog/Entry/profile``); a user's table gets one from its schema.
public struct DatasetProfile: Sendable, Equatable {
  /// The features the hide objective hides by default, in order; nil: every feature marked
  /// sensitive.
  public var hidden: [String]?
  /// The favourable class's name (a loan granted, high income, no re-offence), for label biases
  /// and fairness.
  public var favourable: String?
  /// The label bias (`FEATURE=CATEGORY`) of the base model a hide fine-tuning starts from by
  /// default: a model that never used a sensitive feature has nothing to hide.
  public var labelBias: String?
  /// A pretrained model that stands in for a trained base (`efficientnet-lite0`).
  public var pretrainedBase: String?
  /// Evaluation data only (train and test are the same rows): fine-tuning holds some out itself.
  public var evaluationOnly: Bool

  public init(
    hidden: [String]? = nil, favourable: String? = nil, labelBias: String? = nil, pretrainedBase: String? = nil,
    evaluationOnly: Bool = false
  ) {
    self.hidden = hidden
    self.favourable = favourable
    self.labelBias = labelBias
    self.pretrainedBase = pretrainedBase
    self.evaluationOnly = evaluationOnly
  }

  /// The profile of data set `name`; a name the catalogue does not know has the empty profile.
  public static func of(_ name: String) -> DatasetProfile { (try? DatasetCatalog.entry(name))?.profile ?? DatasetProfile() }
}
