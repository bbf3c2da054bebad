"""Print the confusion matrix of the hypothesis over the synthetic units, as Markdown.

docs/EDA.md's accuracy table is this command's output: the verdict of analysis.kinds on every
synthetic unit of analysis.synthetic (each kind, several seeds, months, with and without gaps).
"""

from django.core.management.base import BaseCommand

from analysis import synthetic


class Command(BaseCommand):
    help = "Confusion matrix of the unit-kind verdict over the synthetic units (Markdown)."

    def add_arguments(self, parser):
        parser.add_argument("--seeds", type=int, default=12, help="Units of each kind.")
        parser.add_argument("--days", type=int, default=28, help="Length of each unit in days.")

    def handle(self, *args, **options):
        cases = synthetic.cases(seeds=options["seeds"])
        table = synthetic.confusion(cases, days=options["days"]).fillna(0).astype(int)
        columns = list(table.columns)
        self.stdout.write("| unit \\ verdict | " + " | ".join(columns) + " | correct |")
        self.stdout.write("|---" * (len(columns) + 2) + "|")
        right = 0
        for kind, row in table.iterrows():
            expected = synthetic.EXPECTED[kind].value
            hits = int(row.get(expected, 0))
            right += hits
            cells = [f"**{row[c]}**" if c == expected else str(row[c]) for c in columns]
            self.stdout.write(f"| {kind} | " + " | ".join(cells) + f" | {hits}/{row.sum()} |")
        total = int(table.to_numpy().sum())
        self.stdout.write(f"\n{right} of {total} units named right ({right / total:.1%}).")
