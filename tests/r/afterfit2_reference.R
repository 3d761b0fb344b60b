# lme4 1.1-31 reference for what comes after a fit, part 2 (tests/against_r/test_afterfit2.py):
#   * predict() of glmer fits with a partial re.form (~(1 | herd) of an observation-level model of cbpp;
#     one term of a nested and of a crossed binomial GLMM), type = "link" and "response", with and without
#     newdata, allow.new.levels;
#   * the one-model anova() of lmer and glmer fits (lme4's sequential table of the fixed effects: npar, Sum Sq,
#     Mean Sq, F value, from R_X beta);
#   * update.formula() with ^ and %in% (R's terms algebra), as strings.
# Run from the repository root:  Rscript tests/r/afterfit2_reference.R
# Reads tests/reference/glmer_*.csv, multi_sleepstudy.csv and data/hsb.csv; writes
# tests/reference/afterfit2_lme4.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
Sys.setlocale("LC_COLLATE", "C")
source("tests/r/common.R")
out <- "tests/reference/afterfit2_lme4.json"
ref <- "tests/reference"

# -- predict with a partial re.form (glmer) ---------------------------------------------------------------------
cbpp_d <- read.csv(file.path(ref, "glmer_cbpp.csv"), colClasses = c(herd = "character", period = "character"))
cbpp_d$herd <- factor(cbpp_d$herd, levels = as.character(1:15))
cbpp_d$period <- factor(cbpp_d$period)
cbpp_d$obs <- factor(seq_len(nrow(cbpp_d)))
nested <- read.csv(file.path(ref, "glmer_sim_nested.csv"))
crossed <- read.csv(file.path(ref, "glmer_sim_crossed.csv"))

fits <- list(
  cbpp_obs = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", data = "cbpp",
                  forms = c("~(1 | herd)", "~(1 | obs)"),
                  newdata = data.frame(herd = c("1", "3", "15", "99"), period = c("1", "4", "2", "3")),
                  newdata_form = "~(1 | herd)"),
  nested = list(formula = "y ~ x + (1 | school/class)", data = "nested",
                forms = c("~(1 | school)", "~(1 | class:school)"),
                newdata = data.frame(school = c(1L, 2L, 1L, 999L), class = c(1L, 1L, 2L, 1L), x = c(0, 1.5, -2, 0.3)),
                newdata_form = "~(1 | school)"),
  crossed = list(formula = "y ~ cond + (cond | subj) + (1 | item)", data = "crossed",
                 forms = c("~(cond | subj)", "~(1 | item)"),
                 newdata = data.frame(subj = c(1L, 2L, 999L), item = c(1L, 999L, 3L), cond = c(1, 0, 1)),
                 newdata_form = "~(1 | item)")
)
datasets <- list(cbpp = cbpp_d, nested = nested, crossed = crossed)
pred_out <- list()
for (key in names(fits)) {
  s <- fits[[key]]
  d <- datasets[[s$data]]
  m <- suppressMessages(glmer(as.formula(s$formula), data = d, family = binomial))
  fitted_rows <- list()
  for (rf in s$forms) {
    fitted_rows[[rf]] <- list(link = unname(predict(m, re.form = as.formula(rf), type = "link")),
                              response = unname(predict(m, re.form = as.formula(rf), type = "response")))
  }
  nd <- s$newdata
  if (s$data == "cbpp") { nd$herd <- as.character(nd$herd); nd$period <- factor(nd$period, levels = levels(d$period)) }
  pf <- as.formula(s$newdata_form)
  pred_out[[key]] <- list(
    formula = s$formula, data = s$data, theta = unname(getME(m, "theta")), beta = unname(fixef(m)),
    deviance = -2 * as.numeric(logLik(m)),
    fitted = fitted_rows,
    na_link = unname(predict(m, re.form = NA)), all_link = unname(predict(m)),
    newdata = as.list(s$newdata), newdata_form = s$newdata_form,
    new_link = unname(predict(m, newdata = nd, re.form = pf, allow.new.levels = TRUE)),
    new_response = unname(predict(m, newdata = nd, re.form = pf, type = "response", allow.new.levels = TRUE)),
    new_levels_error = tryCatch({predict(m, newdata = nd, re.form = pf); ""}, error = function(e) conditionMessage(e)),
    bad_form_error = tryCatch({predict(m, re.form = ~(1 | nonsense)); ""}, error = function(e) conditionMessage(e)))
  cat(key, "\n"); print(pred_out[[key]]$new_link)
}

# -- one-model anova --------------------------------------------------------------------------------------------
sleep <- read.csv(file.path(ref, "multi_sleepstudy.csv"), colClasses = c(Subject = "character"))
sleep$Subject <- factor(sleep$Subject)
hsb <- read_hsb()
tab <- function(a) list(term = rownames(a), npar = unname(a$npar), SumSq = unname(a[["Sum Sq"]]),
                        MeanSq = unname(a[["Mean Sq"]]), F = unname(a[["F value"]]))
anovas <- list(
  sleep_reml = list("Reaction ~ Days + (Days | Subject)", "sleep", TRUE),
  sleep_ml = list("Reaction ~ Days + (Days | Subject)", "sleep", FALSE),
  hsb_ses_sector = list("mathach ~ ses * sector + (1 | school)", "hsb", TRUE),
  hsb_sector_ses = list("mathach ~ sector * ses + (1 | school)", "hsb", TRUE),
  hsb_no_intercept = list("mathach ~ 0 + sector + ses + minority + (1 | school)", "hsb", TRUE),
  hsb_three = list("mathach ~ minority + ses * sector + cses:sector + (cses | school)", "hsb", TRUE),
  sleep_poly = list("Reaction ~ poly(Days, 2) + (1 | Subject)", "sleep", TRUE),
  sleep_I = list("Reaction ~ Days + I(Days^2) + (1 | Subject) + (0 + Days | Subject)", "sleep", TRUE),
  exam_nested = list("normexam ~ standLRT * sex + (1 | school/sex)", "exam", TRUE),
  hsb_power = list("mathach ~ (ses + sector + minority)^2 + (1 | school)", "hsb", TRUE),
  hsb_calls = list("mathach ~ scale(ses) + log(size) + factor(himinty) * ses + (1 | school)", "hsb", TRUE),
  hsb_nest_offset = list("mathach ~ ses/sector + offset(ses) + (1 | school)", "hsb", FALSE)
)
exam <- read.csv(Sys.glob(file.path(ref, "multi_exam.csv*"))[1],
                 colClasses = c(school = "character", sex = "character", student = "character"))
exam$school <- factor(exam$school); exam$sex <- factor(exam$sex)
anova_out <- list()
for (key in names(anovas)) {
  s <- anovas[[key]]
  d <- switch(s[[2]], sleep = sleep, hsb = hsb, exam = exam)
  m <- lmer(as.formula(s[[1]]), data = d, REML = s[[3]])
  a <- anova(m)
  anova_out[[key]] <- c(list(formula = s[[1]], data = s[[2]], reml = s[[3]], sigma = sigma(m),
                             fixef = unname(fixef(m)), fixef_names = names(fixef(m))), tab(a))
  cat(key, "\n"); print(a)
}
# glmer: lme4 1.1-31's anova.merMod single-model branch is the same code (R_X beta, sigma(fit) = 1 for these
# families)
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_d, family = binomial)
a <- anova(gm)
anova_out[["cbpp_glmer"]] <- c(list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                    data = "cbpp", sigma = sigma(gm), fixef = unname(fixef(gm)),
                                    theta = unname(getME(gm, "theta")), deviance = -2 * as.numeric(logLik(gm)),
                                    RX = unname(as.matrix(getME(gm, "RX")))), tab(a))
cat("cbpp_glmer\n"); print(a)
gt <- read.csv(file.path(ref, "glmer_grouseticks.csv"), colClasses = c(BROOD = "character", YEAR = "character",
                                                                      LOCATION = "character"))
gm2 <- glmer(TICKS ~ YEAR * cHEIGHT + (1 | BROOD) + (1 | LOCATION), data = gt, family = poisson)
a <- anova(gm2)
anova_out[["grouse_glmer"]] <- c(list(formula = "TICKS ~ YEAR * cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                                      data = "grouseticks", sigma = sigma(gm2), fixef = unname(fixef(gm2)),
                                      theta = unname(getME(gm2, "theta")), RX = unname(as.matrix(getME(gm2, "RX"))),
                                      deviance = -2 * as.numeric(logLik(gm2))), tab(a))
cat("grouse_glmer\n"); print(a)

# -- update.formula with ^ and %in% -----------------------------------------------------------------------------
cases <- list(
  c("y ~ (a + b + c)^2", ". ~ . - a:b"), c("y ~ (a + b + c)^2", ". ~ ."), c("y ~ (a + b + c)^3", ". ~ . - a:b:c"),
  c("y ~ (a + b)^2", ". ~ . + c"), c("y ~ a + b %in% a", ". ~ ."), c("y ~ a + b %in% a", ". ~ . - b %in% a"),
  c("y ~ a + b %in% a", ". ~ . - a:b"), c("y ~ b %in% a", ". ~ . + c"), c("y ~ (a + b) * c", ". ~ ."),
  c("y ~ b:a + a", ". ~ ."), c("y ~ a * b", ". ~ . - b:a"), c("y ~ x + (1 | g)", ". ~ . + (a + b)^2"),
  c("y ~ (a + b + c)^2 + (1 | g)", ". ~ . - a:b"), c("y ~ a/b", ". ~ ."), c("y ~ (a + b) %in% c", ". ~ ."),
  c("y ~ a %in% (b + c)", ". ~ ."), c("y ~ (a + b)^2 - 1", ". ~ ."), c("y ~ a^2", ". ~ ."),
  c("y ~ (a + b)^2", ". ~ . - (a + b)^2"), c("y ~ (a + b + c)^2", ". ~ . - (a + b)^2"),
  c("y ~ log(x) + (a + b)^2", ". ~ ."), c("y ~ (a + b + c + d)^2", ". ~ . - a:d"), c("y ~ (a + b)^2.5", ". ~ ."),
  c("y ~ (a * b)^2", ". ~ ."), c("y ~ (a + b)^2", ". ~ . + a:b:c"), c("y ~ a + (b + c)^2", ". ~ . - b"),
  c("y ~ I(x^2) + (a + b)^2", ". ~ ."), c("y ~ (a + b + c)^2", ". ~ . - (a + b + c)^2 + a"),
  c("y ~ c + (a + b)^2", ". ~ ."), c("y ~ (a + b)^2 + c:a", ". ~ ."), c("y ~ a %in% b %in% c", ". ~ ."),
  c("y ~ (a + b %in% a)^2", ". ~ ."), c("y ~ a + b", ". ~ .^2"), c("y ~ a + b + c", ". ~ .^2 - b:c"),
  c("y ~ (Days + x)^2 + (Days | Subject)", ". ~ . - Days:x"), c("y ~ a - 1", ". ~ (a + b)^2"),
  c("y ~ b:c + a:b", ". ~ ."), c("y ~ x + offset(o)", ". ~ . + z"), c("y ~ (a + b)/c", ". ~ ."),
  c("y ~ a/(b + c)", ". ~ ."), c("y ~ a:(b + c)", ". ~ ."), c("y ~ a * b", ". ~ . - a"),
  c("y ~ a * b * c - a:b:c", ". ~ ."), c("y ~ (a + b + c)^2", ". ~ . - c:b"),
  c("y ~ x + (a + b)^2 + (x | g)", ". ~ . - (x | g) + (1 | g)"), c("log(y) ~ (a + b)^2", ". ~ . - a:b"),
  c("y ~ (a + b)^2", ". ~ . %in% c"), c("y ~ a + a:b + b", ". ~ ."), c("y ~ a:b + b:a", ". ~ ."),
  c("y ~ (a + b + c)^2", ". ~ . - a:b + b:a"), c("y ~ a + b %in% a", ". ~ . + c %in% b"),
  c("y ~ (a + b)^2", ". ~ . + 0"), c("y ~ (a + b)^2", "~ . - 1"), c("y ~ (a + b)^2", ". ~ a:b"),
  c("Reaction ~ (Days + I(Days^2))^2 + (Days | Subject)", ". ~ . - Days:I(Days^2)"),
  c("mathach ~ (ses + sector + minority)^2 + (1 | school)", ". ~ . - sector:minority"))
upd <- lapply(cases, function(cs) list(old = cs[[1]], new = cs[[2]],
                                       result = deparse1(update(as.formula(cs[[1]]), as.formula(cs[[2]])))))
errors <- list(c("y ~ (a + b)^1", ". ~ ."), c("y ~ (a + b)^0", ". ~ ."), c("y ~ (a + b)^x", ". ~ ."))
upd_err <- lapply(errors, function(cs) list(old = cs[[1]], new = cs[[2]],
  error = tryCatch({update(as.formula(cs[[1]]), as.formula(cs[[2]])); ""}, error = function(e) conditionMessage(e))))

write_json(list(lme4 = as.character(packageVersion("lme4")), R = R.version.string,
                predict = pred_out, anova = anova_out, update = upd, update_errors = upd_err),
           out, auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote", out, "\n")
