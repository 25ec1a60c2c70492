# tables stage rules: the paper's tables (published rows, ours, the difference) and the report's figures.
# Paths and the metrics files behind each table come from unix.tables.targets; the logic is in unix.tables.
# Every output is declared with report() so `snakemake --report report.html` shows it with its caption.

from unix.provenance import config_params
from unix.tables import targets as T


rule make_table2:
    input:
        T.table_inputs(config, "table2"),
    output:
        csv=report(T.table_outputs("table2")["csv"], caption="../report/table2.rst", category="Tables",
                   subcategory="Table 2: understanding"),
        md=T.table_outputs("table2")["md"],
    log:
        "results/logs/make_table2/make_table2.log",
    params:
        key="table2",
        rows=T.table_rows(config, "table2"),
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_table.py"


rule make_table3:
    input:
        T.table_inputs(config, "table3"),
    output:
        csv=report(T.table_outputs("table3")["csv"], caption="../report/table3.rst", category="Tables",
                   subcategory="Table 3: generation"),
        md=T.table_outputs("table3")["md"],
    log:
        "results/logs/make_table3/make_table3.log",
    params:
        key="table3",
        rows=T.table_rows(config, "table3"),
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_table.py"


rule make_table4:
    input:
        T.table_inputs(config, "table4"),
    output:
        csv=report(T.table_outputs("table4")["csv"], caption="../report/table4.rst", category="Tables",
                   subcategory="Table 4: per-pathology FD"),
        md=T.table_outputs("table4")["md"],
    log:
        "results/logs/make_table4/make_table4.log",
    params:
        key="table4",
        rows=T.table_rows(config, "table4"),
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_table.py"


rule make_table5:
    input:
        T.table_inputs(config, "table5"),
    output:
        csv=report(T.table_outputs("table5")["csv"], caption="../report/table5.rst", category="Tables",
                   subcategory="Table 5: joint optimization ablation"),
        md=T.table_outputs("table5")["md"],
    log:
        "results/logs/make_table5/make_table5.log",
    params:
        key="table5",
        rows=T.table_rows(config, "table5"),
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_table.py"


rule make_release_table:
    input:
        lambda w: T.release_table_inputs(config, w.table),
    output:
        csv=report(str(T.RELEASE_TABLES_DIR / "{table}.csv"),
                   caption="../report/release_tables.rst", category="Tables", subcategory="Release"),
        md=str(T.RELEASE_TABLES_DIR / "{table}.md"),
    log:
        "results/logs/make_release_table/{table}.log",
    wildcard_constraints:
        table="|".join(T.RELEASE_TABLE_KEYS),
    params:
        key=lambda w: w.table,
        rows=lambda w: T.release_table_rows(config, w.table),
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_table.py"


rule plot_loss_curves:
    input:
        **T.training_logs(config),
    output:
        report(T.figure_path("loss_curves"), caption="../report/loss_curves.rst", category="Figures",
               subcategory="Training"),
    log:
        "results/logs/plot_loss_curves/plot_loss_curves.log",
    params:
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_figure_loss_curves.py"


rule plot_per_pathology_fd:
    input:
        T.table_inputs(config, "table4"),
    output:
        report(T.figure_path("per_pathology_fd"), caption="../report/per_pathology_fd.rst", category="Figures",
               subcategory="Generation"),
    log:
        "results/logs/plot_per_pathology_fd/plot_per_pathology_fd.log",
    params:
        rows=T.table_rows(config, "table4"),
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_figure_per_pathology_fd.py"


rule plot_report_examples:
    input:
        reports=W.CLEANED_REPORTS,
    output:
        report(T.figure_path("report_examples"), caption="../report/report_examples.rst", category="Figures",
               subcategory="Data"),
    log:
        "results/logs/plot_report_examples/plot_report_examples.log",
    params:
        n=3,
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_figure_report_examples.py"


rule plot_split_accounting:
    input:
        understanding=W.UNDERSTANDING_ACCOUNTING,
        generation=W.GENERATION_ACCOUNTING,
    output:
        report(T.figure_path("split_accounting"), caption="../report/split_accounting.rst", category="Figures",
               subcategory="Data"),
    log:
        "results/logs/plot_split_accounting/plot_split_accounting.log",
    params:
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, synthetic="synthetic"),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_figure_split_accounting.py"


rule plot_image_grid:
    input:
        **T.image_grid_inputs(config),
    output:
        report(T.figure_path("image_grid"), caption="../report/image_grid.rst", category="Figures",
               subcategory="Generation"),
    log:
        "results/logs/plot_image_grid/plot_image_grid.log",
    params:
        n=4,
        uses_synthetic_tree=not config["data"]["mimic_cxr_jpg"],
        **config_params(config, seed="seed", image_size="training.stage3.resolution", synthetic="synthetic"),
    resources:
        **W.resources(config, "infer"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/make_figure_image_grid.py"
