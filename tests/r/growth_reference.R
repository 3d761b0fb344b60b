# lme4 reference values for chapter 17, "Growth over time" (chapters/17_growth_over_time.md).
#
#   Rscript tests/r/growth_reference.R          (from the repository root)
#
# The models the chapter fits, to OUR data/egsingle.csv (mlmRev's egsingle, Raudenbush & Bryk 2002, ch. 8),
# REML with lme4's default control:
#   ucg        math ~ year + (year | childid)                       unconditional growth, two levels
#   ucg_first  math ~ year1 + (year1 | childid)                     the same, time counted from the first test
#   ethnic     math ~ year * (black + hispanic) + (year | childid)  pupil predictors of status and growth
#   ucg3       math ~ year + (year | schoolid/childid)              three levels: years, pupils, schools
#   lowinc3    math ~ year * lowinc + (year | schoolid/childid)     a school predictor, three levels
#   lowinc2    math ~ year * lowinc + (year | childid)              the same, the school level ignored
# with year1 = year + 2.5.  Writes tests/reference/growth_lme4.json.  The Python tests
# (tests/against_r/test_growth.py) never run R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

if (!file.exists("data/egsingle.csv"))
  stop("run from the repository root: Rscript tests/r/growth_reference.R")
out_file <- "tests/reference/growth_lme4.json"

eg <- read.csv("data/egsingle.csv")
eg$schoolid <- factor(eg$schoolid)
eg$childid <- factor(eg$childid)
eg$year1 <- eg$year + 2.5
stopifnot(nrow(eg) == 7230, nlevels(eg$childid) == 1721, nlevels(eg$schoolid) == 60)

named <- function(x) as.list(setNames(as.numeric(x), names(x)))
rows <- function(m) { m <- as.matrix(m); attr(m, "stddev") <- NULL; attr(m, "correlation") <- NULL
                      dimnames(m) <- NULL; unclass(m) }
`%||%` <- function(a, b) if (is.null(a)) b else a

summarise <- function(formula) {
  m <- lmer(as.formula(formula), data = eg, REML = TRUE)
  vc <- VarCorr(m)
  list(formula = formula, reml = TRUE,
       fixef = named(fixef(m)),
       se = named(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
       theta = I(as.vector(getME(m, "theta"))),
       sigma = sigma(m), sigma2 = sigma(m)^2,
       tau = lapply(vc, rows),                       # one covariance matrix per grouping factor
       tau_names = lapply(vc, function(v) I(colnames(v))),
       reml_criterion = REMLcrit(m),
       singular = isSingular(m),
       messages = I(m@optinfo$conv$lme4$messages %||% character(0)))
}

formulas <- c(
  ucg = "math ~ year + (year | childid)",
  ucg_first = "math ~ year1 + (year1 | childid)",
  ethnic = "math ~ year * (black + hispanic) + (year | childid)",
  ucg3 = "math ~ year + (year | schoolid/childid)",
  lowinc3 = "math ~ year * lowinc + (year | schoolid/childid)",
  lowinc2 = "math ~ year * lowinc + (year | childid)"
)

out <- list(
  meta = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
              date = format(Sys.time(), "%Y-%m-%d"),
              notes = I(c("REML fits with lme4's default control, data/egsingle.csv",
                          "tau: one covariance matrix per grouping factor, named as lme4's VarCorr"))),
  models = lapply(formulas, summarise)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
