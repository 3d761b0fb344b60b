# lme4 reference values for chapter 16, "Planning a study by simulation"
# (chapters/16_planning_by_simulation.md, hlm_course/power.py).
#
#   Rscript tests/r/planning_reference.R          (from the repository root)
#
# 1. The models the chapter plans from, fitted to OUR data/hsb.csv (REML, lme4's default control):
#      ri   mathach ~ cses + sector + (1 | school)       (the planning model)
#      rs   mathach ~ cses + sector + (cses | school)    (with a random SES slope)
#      rs_int mathach ~ cses * sector + (cses | school)  (and the sector difference in slopes)
#      null mathach ~ 1 + (1 | school)                   (the unconditional ICC)
# 2. One simulated planned study, tests/reference/planning_study.csv (20 schools x 10 pupils, written from
#    Python -- numpy's Generator cannot be replayed in R -- by
#      d = hlm_course.power.planning_design(20, 10, hsb["cses"].std(), seed=16)
#      d["mathach"] = hlm_course.power._template(model, d, numpy.random.default_rng(17)).y
#    with model = PlanningModel.from_fit(ri, sd_x=hsb["cses"].std())), fitted with the planning model:
#    the estimate and standard error of the sector gap that each simulated study's test uses.
# Writes tests/reference/planning_lme4.json.  The Python tests (tests/against_r/test_power.py) never run R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/hsb.csv"))
  stop("run from the repository root: Rscript tests/r/planning_reference.R")
out_file <- "tests/reference/planning_lme4.json"

source("tests/r/common.R")
hsb <- read_hsb()

study <- read.csv("tests/reference/planning_study.csv")
study$sector <- factor(study$sector, levels = c("Public", "Catholic"))
stopifnot(nrow(study) == 200, length(unique(study$school)) == 20)

named <- function(x) as.list(setNames(as.numeric(x), names(x)))
rows <- function(m) { m <- as.matrix(m); dimnames(m) <- NULL; m }

summarise <- function(formula, data, data_name) {
  m <- lmer(as.formula(formula), data = data, REML = TRUE)
  vc <- VarCorr(m)[[1]]
  list(formula = formula, data = data_name, reml = TRUE,
       fixef = named(fixef(m)),
       se = named(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
       theta = I(as.vector(getME(m, "theta"))),
       sigma = sigma(m), sigma2 = sigma(m)^2,
       tau = rows(vc), tau_names = I(colnames(vc)),
       reml_criterion = REMLcrit(m),
       singular = isSingular(m),
       messages = I(m@optinfo$conv$lme4$messages %||% character(0)))
}
`%||%` <- function(a, b) if (is.null(a)) b else a

out <- list(
  meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              date = format(Sys.time(), "%Y-%m-%d"),
              notes = I(c("REML fits with lme4's default control",
                          "study: tests/reference/planning_study.csv, one simulated planned study"))),
  models = list(
    ri = summarise("mathach ~ cses + sector + (1 | school)", hsb, "hsb"),
    rs = summarise("mathach ~ cses + sector + (cses | school)", hsb, "hsb"),
    rs_int = summarise("mathach ~ cses * sector + (cses | school)", hsb, "hsb"),
    null = summarise("mathach ~ 1 + (1 | school)", hsb, "hsb"),
    study = summarise("mathach ~ cses + sector + (1 | school)", study, "planning_study")
  )
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
