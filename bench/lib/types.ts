export interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: { op: '<=' | '>='; value: number };
}

export interface ScenarioResult {
  scenario: string;
  params: Record<string, unknown>;
  figures: Figure[];
  notes?: string[];
}
