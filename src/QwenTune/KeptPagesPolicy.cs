namespace QwenTune;

/// <summary>
/// When to hand back the pages an allocator keeps for reuse (<see cref="Memory.BeforeStep"/>). Resident memory after
/// the <see cref="SettlingSteps"/>th step is the working set (the first steps of a run, or after a hand-back, each
/// leave pages of sizes the next ones reuse); once a later step ends more than <see cref="AllowedGrowth"/> above it,
/// the pages go back before the next step, and the steps after the hand-back set the measure again (a run whose batches
/// grow longer gets a new working set, not a hand-back every step).
/// </summary>
internal sealed class KeptPagesPolicy
{
    /// <summary>
    /// Growth over the working set allowed before a hand-back: 5%. The step after a hand-back sits 3-5% below the
    /// working set, so each hand-back widens the band a run's resident memory keeps. The working set settles on the
    /// second step, and the longer samples of later steps leave 3-5% more pages kept that the steps after reuse.
    /// bench rss-soak, 500 steps, young collections after each step (<see cref="Memory.ReturnFreedPages"/>): at 3%
    /// a hand-back near step 200 and +-5.08% of the median; at 4% and 5%, none after the settling steps and +-2.41% and
    /// +-2.97%. (With full collections after each step, whose committed memory crept, +-4.86% at 3% and +-5.43% at 4%.)
    /// </summary>
    public const double AllowedGrowth = 0.05;

    /// <summary>
    /// Steps that settle the working set. Measured on a 2-core Zen 5 before the extent fit of
    /// <see cref="Runtime.NativeAllocator.KeepPages"/>: bench step, Qwen2.5-0.5B shape, bf16 full, resident memory after
    /// the second step was 16% above the first's, and settling on the first handed the pages back every other step
    /// (5.73 s a step; 4.49 never handed back); on the second, 3.96 s. bench rss-soak (500 steps of the embedded
    /// default, batches of varying length): settling on the first, 1,835 tokens/s; the second, 1,900; the fourth, 2,074
    /// but a sawtooth of +-40%; jemalloc's own decay 1,593.
    /// </summary>
    public const int SettlingSteps = 2;

    private long _workingSet;
    private int _steps;
    private bool _handBack;

    /// <summary>Resident bytes after a step.</summary>
    public void AfterStep(long residentBytes)
    {
        if (residentBytes <= 0)
            return;
        _steps++;
        if (_steps == SettlingSteps)
            _workingSet = residentBytes;
        else if (_steps > SettlingSteps && residentBytes > _workingSet * (1 + AllowedGrowth))
            _handBack = true;
    }

    /// <summary>Whether to hand the kept pages back now, before a step; the steps after it settle the working set again.</summary>
    public bool BeforeStep()
    {
        if (!_handBack)
            return false;
        (_handBack, _steps, _workingSet) = (false, 0, 0);
        return true;
    }
}
