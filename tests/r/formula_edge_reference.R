# lme4 1.1-31 reference values for issue 24: the formula layer's edge cases and predict().
# Run from the repository root:
#   python tests/r/formula_edge_data.py && Rscript tests/r/formula_edge_reference.R
# Reads tests/reference/formula_edge.csv (seeded data, see formula_edge_data.py) and the multi_*.csv data of
# multi_term_reference.R; writes tests/reference/formula_edge_lme4.json.  Each model is fitted with lmer()
# and lme4's default control; an error or a message/warning is recorded as lme4 gives it.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
Sys.setlocale("LC_COLLATE", "C")
d <- read.csv("tests/reference/formula_edge.csv", check.names = FALSE, stringsAsFactors = TRUE)
fit_one <- function(formula, data, REML = TRUE) {
  msgs <- character(0)
  m <- tryCatch(withCallingHandlers(
    lmer(as.formula(formula), data, REML = REML),
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleMessage") }),
    error = function(e) e)
  if (inherits(m, "error")) return(list(formula = formula, error = conditionMessage(m), messages = msgs))
  ll <- logLik(m)
  list(formula = formula, reml = REML, criterion = if (REML) REMLcrit(m) else deviance(m),
       ml_deviance = deviance(m, REML = FALSE), npar = attr(ll, "df"), aic = AIC(m), nobs = nobs(m),
       fixef = as.list(fixef(m)), fixef_names = names(fixef(m)), theta = unname(getME(m, "theta")),
       theta_names = names(getME(m, "theta")), sigma = sigma(m), cnms = getME(m, "cnms"),
       offset = unname(getME(m, "offset")[1:5]), messages = msgs)
}
cases <- list(
  unused_slope = "y1 ~ x + (0 + f | g)",
  unused_intercept_slope = "y1 ~ x + (f | g)",
  unused_fixed = "y1 ~ f + x + (1 | g)",
  scale_missing = "y2 ~ scale(x) + (1 | g)",
  poly_missing = "y2 ~ poly(x, 2) + (1 | g)",
  scale_random = "y2 ~ x + (0 + scale(x) | g)",
  dotted_fixed = "y ~ x + x.index + (1 | g)",
  dotted_response = "y.T ~ x + (1 | g)",
  dotted_random = "y ~ x + (0 + x.index | g)",
  dotted_backticks = "y ~ `IQ.verb` + (1 | g)",
  dotted_plain = "y ~ IQ.verb + (1 | g)",
  dbar_factor_noint = "y ~ x + (0 + f || g)",
  dbar_factor = "y ~ x + (f || g)",
  dbar_string = "y ~ x + (1 + h || g)",
  dbar_numeric = "y ~ x + (x || g)",
  dbar_factor_crossed = "y ~ x + (0 + f || g) + (1 | h)",
  dbar_numeric_factor = "y ~ x + (x + f || g)",
  dbar_factor_interaction = "y ~ x + (0 + f:h || g)",
  dbar_star = "y ~ x + (x * h || g)",
  offset_twice = "y ~ x + offset(o) + offset(o) + (1 | g)",
  offset_once = "y ~ x + offset(o) + (1 | g)",
  offset_in_bar = "y ~ x + (offset(o) | g)",
  poly_degree_25 = "y ~ poly(x, 25) + (1 | g)",
  poly_degree_smooth_25 = "y ~ poly(t, 25) + (1 | g)",
  poly_degree_12 = "y ~ poly(x, 12) + (1 | g)",
  zero_bar = "y ~ x + (0 | g)",
  minus_one_bar = "y ~ x + (-1 | g)",
  double_bar_outside = "y ~ (x | g) | g",
  near_collinear = "y ~ x + xnear + (1 | g)",
  exact_collinear = "y ~ x + I(2 * x) + (1 | g)",
  response_I = "I(y/10) ~ x + (1 | g)",
  contr_sum = "y ~ C(f, contr.sum) + (1 | g)",
  contr_sum_short = "y ~ C(f, sum) + (1 | g)",
  contr_helmert = "y ~ C(f, contr.helmert) + (1 | g)",
  no_fixed = "y ~ 0 + (1 | g)",
  no_fixed_crossed = "y ~ 0 + (1 | g) + (1 | f)",
  no_fixed_dbar = "y ~ -1 + (x || g)",
  unused_ml = "y1 ~ x + (0 + f | g)"
)
out <- list()
# With no fixed effects (p = 0) lme4 1.1-31 reads R_X's log-determinant from uninitialized memory (getME(m,
# "devcomp")$cmp["ldRX2"] was 1e-309 and 5.7e228 in two runs of the same fit), so its REML criterion is
# undefined there: those cases are fitted by ML, which does not use R_X (our REML criterion equals it, as it
# must when p = 0).
for (nm in names(cases)) out[[nm]] <- fit_one(cases[[nm]], d, REML = nm != "unused_ml" && !startsWith(nm, "no_fixed"))
# deviance() of a REML fit in lme4 1.1-31: the REML criterion, with a deprecation warning
m <- lmer(y ~ x + (1 | g), d)
dw <- character(0)
dv <- withCallingHandlers(deviance(m), warning = function(w) { dw <<- conditionMessage(w); invokeRestart("muffleWarning") })
out$deviance_reml <- list(deviance = dv, warning = dw, REMLcrit = REMLcrit(m), ml = deviance(m, REML = FALSE),
                          loglik = as.numeric(logLik(m)))

# ---- predict() ------------------------------------------------------------------------------------------------
pred <- list()
rd <- function(name, gz = FALSE) read.csv(file.path("tests/reference", paste0("multi_", name, if (gz) ".csv.gz" else ".csv")),
                                          stringsAsFactors = TRUE)
slp <- rd("sleepstudy"); slp$Subject <- factor(slp$Subject)
ms <- lmer(Reaction ~ Days + (Days | Subject), slp)
nd <- data.frame(Days = c(0, 3.5, 9, 2, 11), Subject = factor(c("308", "309", "372", "999", "999")))
known <- nd[1:3, ]
pred$sleep <- list(formula = "Reaction ~ Days + (Days | Subject)", newdata = nd,
  re_all = predict(ms, newdata = nd, allow.new.levels = TRUE),
  re_known = predict(ms, newdata = known),
  re_na = predict(ms, newdata = nd, re.form = NA),
  fitted_head = unname(predict(ms)[1:5]),
  new_level_error = tryCatch(predict(ms, newdata = nd), error = function(e) conditionMessage(e)))
# two terms on one grouping factor (the one-factor path, Λθ block diagonal): a partial re.form keeps one
mu2 <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), slp)
pred$sleep_uncorr <- list(formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", newdata = nd,
  re_all = predict(mu2, newdata = nd, allow.new.levels = TRUE),
  re_intercept = predict(mu2, newdata = nd, re.form = ~(1 | Subject), allow.new.levels = TRUE),
  re_slope = predict(mu2, newdata = nd, re.form = ~(0 + Days | Subject), allow.new.levels = TRUE))
# scale() and poly() in the model: new data use the training data's parameters (makepredictcall)
mp <- lmer(Reaction ~ poly(Days, 2) + scale(Days) + (1 | Subject), slp)
pred$sleep_poly <- list(formula = "Reaction ~ poly(Days, 2) + scale(Days) + (1 | Subject)", newdata = nd,
  re_all = predict(mp, newdata = nd, allow.new.levels = TRUE), re_na = predict(mp, newdata = nd, re.form = NA))
# crossed: a partial re.form
sco <- rd("scotssec", TRUE); sco$primary <- factor(sco$primary); sco$second <- factor(sco$second)
mc <- lmer(attain ~ verbal + sex + (1 | primary) + (1 | second), sco)
ndc <- data.frame(verbal = c(-5, 0, 3, 10), sex = factor(c("M", "F", "F", "M"), levels = c("F", "M")),
                  primary = factor(c("1", "2", "9999", "10")), second = factor(c("9", "1", "3", "8888")))
pred$scotssec <- list(formula = "attain ~ verbal + sex + (1 | primary) + (1 | second)", newdata = ndc,
  re_all = predict(mc, newdata = ndc, allow.new.levels = TRUE),
  re_primary = predict(mc, newdata = ndc, re.form = ~(1 | primary), allow.new.levels = TRUE),
  re_second = predict(mc, newdata = ndc, re.form = ~(1 | second), allow.new.levels = TRUE),
  re_na = predict(mc, newdata = ndc, re.form = NA),
  fitted_head = unname(predict(mc)[1:5]))
# nested with slopes (egsingle)
egs <- rd("egsingle", TRUE); egs$schoolid <- factor(egs$schoolid); egs$childid <- factor(egs$childid)
me <- lmer(math ~ year + (year | schoolid/childid), egs)
nde <- data.frame(year = c(-1.5, 0, 0.5, 1, 2), schoolid = factor(c("2020", "2020", "2040", "9999", "2020")),
                  childid = factor(c("273026452", "0000", "273030991", "1", "273026452")))
pred$egsingle <- list(formula = "math ~ year + (year | schoolid/childid)", newdata = nde,
  re_all = predict(me, newdata = nde, allow.new.levels = TRUE),
  re_school = predict(me, newdata = nde, re.form = ~(year | schoolid), allow.new.levels = TRUE),
  re_na = predict(me, newdata = nde, re.form = NA))
# the fit with unused levels and missing responses, predicted on the full data (factor levels of the fit)
mu <- lmer(y1 ~ x + f + (1 | g), d[d$f != "c", ])
pred$unused <- list(formula = "y1 ~ x + f + (1 | g)",
  re_all = unname(predict(mu, newdata = d[d$f != "c", ][1:6, ])),
  error_level = tryCatch(predict(mu, newdata = d[1:6, ]), error = function(e) conditionMessage(e)))
out$predict <- pred
out$meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 Matrix = as.character(packageVersion("Matrix")), date = as.character(Sys.Date()))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
           "tests/reference/formula_edge_lme4.json")
