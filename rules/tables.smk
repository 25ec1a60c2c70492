# tables stage rules: the paper's tables (published rows, ours, the difference) and the report's figures.
# The metrics files behind each table come from unix.tables.targets; the logic is in unix.tables.
# Every output is declared with report() so `snakemake --report report.html` shows it with its caption.
# params.synthetic (config `synthetic`) marks a table or figure as made from synthetic data.


rule make_table:
    input:
        lambda w: T.table_inputs(config, w.table),
    output:
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/tables.rst",
            category="Tables",
            subcategory=lambda w: TABLE_SUBCATEGORY[w.table],
        ),
        md="results/tables/{table}.md",
    log:
        "results/logs/make_{table}/make_{table}.log",
    params:
        **config_params(config, synthetic="synthetic"),
        key="{table}",
        rows=lambda w: T.table_rows(config, w.table),
    resources:
        **W.resources(config, "cpu"),
    conda:
        "../envs/tables.yaml"
    script:
        "../workflow_scripts/make_table.py"


rule make_release_table:
    input:
        lambda w: T.release_table_inputs(config, w.release_table),
    output:
        csv=report(
            "results/tables/release/{release_table}.csv",
            caption="../report/release_tables.rst",
            category="Tables",
            subcategory="Release",
        ),
        md="results/tables/release/{release_table}.md",
    log:
        "results/logs/make_release_table/{release_table}.log",
    params:
        **config_params(config, synthetic="synthetic"),
        key="{release_table}",
        rows=lambda w: T.release_table_rows(config, w.release_table),
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
        report(
            "results/figures/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="Figures",
            subcategory="Training",
        ),
    log:
        "results/logs/plot_loss_curves/plot_loss_curves.log",
    params:
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
        report(
            "results/figures/per_pathology_fd.png",
            caption="../report/per_pathology_fd.rst",
            category="Figures",
            subcategory="Generation",
        ),
    log:
        "results/logs/plot_per_pathology_fd/plot_per_pathology_fd.log",
    params:
        **config_params(config, synthetic="synthetic"),
        rows=T.table_rows(config, "table4"),
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
        report(
            "results/figures/report_examples.png",
            caption="../report/report_examples.rst",
            category="Figures",
            subcategory="Data",
        ),
    log:
        "results/logs/plot_report_examples/plot_report_examples.log",
    params:
        **config_params(config, synthetic="synthetic"),
        n=3,
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
        report(
            "results/figures/split_accounting.png",
            caption="../report/split_accounting.rst",
            category="Figures",
            subcategory="Data",
        ),
    log:
        "results/logs/plot_split_accounting/plot_split_accounting.log",
    params:
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
        report(
            "results/figures/image_grid.png",
            caption="../report/image_grid.rst",
            category="Figures",
            subcategory="Generation",
        ),
    log:
        "results/logs/plot_image_grid/plot_image_grid.log",
    params:
        **config_params(
            config,
            seed="seed",
            image_size="training.stage3.resolution",
            synthetic="synthetic",
        ),
        n=4,
    resources:
        **W.resources(config, "infer"),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../workflow_scripts/make_figure_image_grid.py"
